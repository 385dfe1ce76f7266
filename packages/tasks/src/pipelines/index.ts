// Public API of tasks/pipelines: named exports are added here as the module is built.
export {};
