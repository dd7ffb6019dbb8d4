/**
 * The key check's reference (lib/eval/key_reference.ts): pieces whose notes are in a known key and labelled so agree;
 * a piece whose opening bars sit in another key than its label does not, and the excerpt length decides; pieces
 * without a label are skipped. On the corpus (when present): whole pieces agree with the labels the data gave them.
 */
import { assert, assertEquals } from "../_assert.ts";
import { CORPUS } from "../_corpus.ts";
import { RemiTokenizer } from "../../lib/tokenizers/remi.ts";
import { BOS_ID, EOS_ID } from "../../lib/tokenizers/tokenizer.ts";
import { conditionIds, CONDITIONING_TOKENS, conditioningIds } from "../../lib/data/conditioning.ts";
import { emptyScore, type Score } from "../../lib/score.ts";
import { referenceKeyAgreement } from "../../lib/eval/key_reference.ts";

const tok = new RemiTokenizer({ extraTokens: [...CONDITIONING_TOKENS] });
const c = conditioningIds(tok.vocab)!;

/** `bars` bars of a scale's triads (I IV V I) from `tonic` (pitch class), major; each bar one beat a chord tone. */
function cadence(s: Score, tonic: number, fromBar: number, bars: number): void {
  const steps = [[0, 4, 7], [5, 9, 12], [7, 11, 14], [0, 4, 7]];
  for (let b = 0; b < bars; b++) {
    const chord = steps[b % 4];
    for (let k = 0; k < 4; k++) {
      const p = 60 + tonic + chord[k % 3] + (k === 3 ? 12 : 0);
      s.notes.push({ pitch: p, velocity: 80, start: (fromBar + b) * 1920 + k * 480, duration: 480 });
    }
    s.notes.push({ pitch: 48 + tonic + chord[0], velocity: 70, start: (fromBar + b) * 1920, duration: 1920 });
  }
}

function piece(s: Score, key: string | undefined): number[] {
  return [BOS_ID, ...conditionIds(c, { key }), ...tok.encode(s), EOS_ID];
}

Deno.test("referenceKeyAgreement: labelled pieces in their key agree; an opening in another key does not", () => {
  const inC = emptyScore(480);
  cadence(inC, 0, 0, 12);
  const inD = emptyScore(480);
  cadence(inD, 2, 0, 12);
  // 8 bars in G, then 24 in C: labelled C major (the whole piece's key), its opening is not
  const late = emptyScore(480);
  cadence(late, 7, 0, 8);
  cadence(late, 0, 8, 24);
  const r = referenceKeyAgreement(
    [piece(inC, "C major"), piece(inD, "D major"), piece(late, "C major")],
    tok,
    8,
  );
  assertEquals([r.pieces, r.agree, r.skipped], [3, 2, 0]);
  // 8 bars of I IV V I in C: 5 notes a bar, on C the I bars' root, octave and bass (3) and IV's top note (1): 14 of 40
  assertEquals(referenceKeyAgreement([piece(inC, "C major")], tok, 8).tonicShare, 14 / 40);
  // a longer excerpt reaches the piece's key
  assertEquals(referenceKeyAgreement([piece(late, "C major")], tok, 32).agree, 1);
  // no label: skipped
  assertEquals(referenceKeyAgreement([piece(inC, undefined)], tok, 8).skipped, 1);
  // window labels: the key of `late`'s first 8 bars is its G-major opening (an 8-bar excerpt agrees; 12 bars, with
  // 4 of C, are called C or G: not by construction), the key of its first 32 bars is C major
  const short = referenceKeyAgreement([piece(late, "C major")], tok, 8, 8);
  assertEquals([short.agree, short.windowAgreement, short.labelBars], [0, 1, 8]);
  assertEquals(referenceKeyAgreement([piece(late, "C major")], tok, 8, 32).windowAgreement, 0);
  assertEquals(r.windowAgreement, undefined);
});

Deno.test({
  name: "referenceKeyAgreement: whole corpus pieces agree with the labels tokenize gave them",
  ignore: !CORPUS,
  async fn() {
    const { join } = await import("node:path");
    const { readMidiFile } = await import("../../lib/midi/mod.ts");
    const { pieceFeatures } = await import("../../lib/data/conditioning.ts");
    const { keyName } = await import("../../lib/score/key.ts");
    const files = ["chpn-p7.mid", "chpn-p20.mid"].map((f) =>
      join(CORPUS!, "piano-midi-de", "midis", "Chopin", f)
    );
    const pieces: number[][] = [];
    for (const f of files) {
      const s = await readMidiFile(f);
      const k = pieceFeatures(s).key;
      pieces.push(piece(s, k ? keyName(k) : undefined));
    }
    const r = referenceKeyAgreement(pieces, tok, 100_000);
    assert(r.pieces === 2 && r.agree === 2, JSON.stringify(r));
  },
});
