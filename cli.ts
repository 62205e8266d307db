/**
 * The `smmuv3` command line: decodes SMMUv3 structures from hex (work in progress).
 * @module
 */
if (import.meta.main) {
  console.error("smmuv3: no command yet");
  Deno.exit(2);
}
