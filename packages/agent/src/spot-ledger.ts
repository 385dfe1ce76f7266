// The slot ledger lives in @synkti/core (infra's SpotServeFleet tags its launches with it
// too); this module keeps the agent's import path `@synkti/agent/spot-ledger`.
export * from '@synkti/core/spot-ledger';
