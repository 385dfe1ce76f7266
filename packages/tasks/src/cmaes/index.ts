// Public API of tasks/cmaes: named exports are added here as the module is built.
export {};
