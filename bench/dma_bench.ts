/**
 * DMA speed (issue 14): a DmaView copy within one page of FlatMemory, read and write, 4 KiB and 64 bytes, each group
 * against Uint8Array.set of the same size measured in the same run; the bytes each copy allocates are printed.
 */
import { FlatMemory } from "../src/memory.ts";
import { bringUp, bytesPerCall, IOVA, mapPages, RAM_BASE, RAM_BYTES, stage1Stream } from "./setup.ts";

const dev = bringUp(new FlatMemory(RAM_BYTES, RAM_BASE));
mapPages(stage1Stream(dev, 1), 16);
const view = dev.smmu.dmaView(1);

for (const size of [4096, 64]) {
  const src = new Uint8Array(size).fill(7);
  const dst = new Uint8Array(size);
  const data = new Uint8Array(size).fill(3);
  const group = `dma ${size === 4096 ? "4 KiB" : "64 B"}`;
  const at = IOVA + (size === 4096 ? 0 : 0x100); // a whole page, or a small buffer inside one
  const read = () => view.read(at, dst);
  const write = () => view.write(at, data);
  console.log(`${group}: a read allocates ${bytesPerCall(read)} B, a write ${bytesPerCall(write)} B`);
  Deno.bench(`floor: Uint8Array.set of ${size} bytes`, { group, baseline: true }, () => {
    dst.set(src);
  });
  Deno.bench(`DmaView.read of ${size} bytes within a page`, { group }, () => {
    read();
  });
  Deno.bench(`DmaView.write of ${size} bytes within a page`, { group }, () => {
    write();
  });
}
