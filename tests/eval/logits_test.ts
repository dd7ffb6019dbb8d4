import { assertEquals } from "../_assert.ts";
import { makeLogits, trainedContext } from "../../lib/eval/logits.ts";
import { readCheckpoint } from "../../lib/model/checkpoint.ts";

Deno.test("NLL windows are the length a Transformer was trained on, not its position table", async () => {
  assertEquals(trainedContext({ arch: "transformer", maxPositions: 512, seqLen: 256 }), 256);
  assertEquals(trainedContext({ arch: "transformer", maxPositions: 512, seqLen: 512 }), 512);
  assertEquals(trainedContext({ arch: "transformer", maxPositions: 128, seqLen: 256 }), 128);
  assertEquals(trainedContext({ arch: "lstm", seqLen: 100 }), 100);
  // models/maestro-2m: 512 positions, trained on 256-id windows
  const ck = await readCheckpoint("models/maestro-2m");
  assertEquals([ck.config.arch === "transformer" && ck.config.maxPositions, ck.config.seqLen], [512, 256]);
  const lm = await makeLogits(ck, "reference");
  try {
    assertEquals(lm.context, 256);
  } finally {
    lm.dispose();
  }
});
