/**
 * `deno task demo`: for now, a summary of the register map compiled from registers.yaml.
 * @module
 */
import { REGISTERS } from "./gen/mod.ts";

for (const r of REGISTERS) {
  const off = "0x" + r.offset.toString(16).padStart(5, "0");
  console.log(`${off}  ${r.name.padEnd(16)} ${String(r.width).padStart(2)}-bit ${r.access.padEnd(6)} ${r.state}`);
}
