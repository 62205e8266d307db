/** `deno task demo` as a user runs it: a subprocess that must exit 0 and show each section's checked outcome. */
import assert from "node:assert/strict";

Deno.test("the demo runs, every check passes, and it shows translations, events and the save/restore comparison", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", new URL("../demo.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, text + new TextDecoder().decode(out.stderr));
  assert.doesNotMatch(text, /MISMATCH|FAILED/);
  for (
    const line of [
      /CR0 = CR0ACK = 0xd: SMMUEN, EVENTQEN, CMDQEN ✓/,
      /StreamID 4 {2}vm-gpu +NESTED/,
      /gpu sid 2 +write iova 0x10000040 +→ pa 0x44000040 +✓/,
      /vm-gpu sid 4 +write iova 0x4080 +→ pa 0x45100080 +✓/,
      /accel sid 5 ssid 2 +write iova 0x100100 +→ pa 0x47100100 +✓/,
      /→ fault C_BAD_STREAMID +✓/,
      /^ {2}F_TRANSLATION StreamID=0x4 RnW=READ S2=STAGE_2 CLASS=IN InputAddr=0x5000 IPA=0x200000000$/m,
      /7 records, in order ✓/,
      /^ {2}S2 L2 .* block$/m,
      /original and restored: \d+ observations, guest memory and saved state identical ✓/,
      /dma sid 6 read 0x100ffc \(8 bytes\) → stalled after 4 bytes at 0x101000 ✓/,
      /^ {2}event F_TRANSLATION StreamID=0x6 Stall=0x1 RnW=READ CLASS=IN InputAddr=0x101000$/m,
      /CMD_RESUME\(sid 6, STAG 0, retry\) → the copy completes: 1,2,3,4,5,6,7,8 ✓/,
      /page request \(group 5, last\) → queued; PRI queue record: StreamID 7 page 0x200000 R 1 ✓/,
      /CMD_PRI_RESP\(Success\) → the endpoint retries: 9,10,11,12 ✓/,
      /TLB hit rate \d+\.\d+% of \d+ translations/,
      /^All \d+ checks passed\.$/m,
    ]
  ) assert.match(text, line);
});
