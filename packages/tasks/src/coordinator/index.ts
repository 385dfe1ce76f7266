// Public API of tasks/coordinator: named exports are added here as the module is built.
export {};
