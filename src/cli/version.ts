/** The package version, as deno.json gives it (tests/cli_test.ts checks that they agree). */
export const VERSION = "0.1.0";
