/**
 * `@synkti/agent/release`: packing the agent release a worker installs (the compiled agent,
 * its native packages per platform, a reproducible tarball). Runs on a checkout (it needs
 * the sources and esbuild), never on a worker; `synkti worker pack` and `synkti bootstrap`
 * call it.
 */
export {
  AGENT_PLATFORMS,
  agentPlatform,
  packAgentArtifact,
  type AgentArtifact,
  type AgentPlatform,
  type PackAgentArtifactOptions,
} from './agent-artifact.ts';
export {
  AGENT_BUNDLE_ENTRIES,
  AGENT_NATIVE_PACKAGES,
  buildAgentBundle,
  copyAgentBundle,
  type AgentBundle,
  type BuildAgentBundleOptions,
} from './agent-bundle.ts';
