export { CmaEs, type CmaEsOptions, type CmaEsState } from './cma-es.ts';
export { minimize, type MinimizeOptions, type MinimizeResult } from './minimize.ts';
export { builtinObjectives, isBuiltinObjective, shiftedRastrigin, type BuiltinObjectiveName, type Objective } from './objectives.ts';
export { SeededRandom, type RandomState } from './random.ts';
export { symmetricEigen, type Eigen } from './eigen.ts';
export {
  CmaEsRestarts,
  RESTART_STRATEGIES,
  type CmaEsRestartsOptions,
  type CmaEsRestartsState,
  type RestartRecord,
  type RestartStrategy,
} from './restarts.ts';
export { ResampledCmaEs, type ResampledCmaEsOptions, type ResampledCmaEsState } from './resampling.ts';
