import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/globalSetup.ts"],
    reporters: ["default", "./test/support/summaryReporter.ts"],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Two cores: multi-process proofs spawn their own workers.
    maxWorkers: 2
  }
})
