/**
 * lib/midi on every file of the real corpus (`../shared/midi`): each is read or rejected with a MidiError, the
 * known-broken ones are rejected, the valid edge cases read, and the results agree with two independent references —
 * the corpus's INDEX.csv (a strict Python scanner's note and zero-length counts) and @tonejs/midi's note onsets.
 */
import midiPkg from "@tonejs/midi";
import { join } from "node:path";
import { MidiError, readMidi, readMidiDetailed, writeMidi } from "../../lib/midi/mod.ts";
import type { Score } from "../../lib/score.ts";
import { CORPUS, pianoCorpusFiles, walkFiles } from "../_corpus.ts";
import { assert, assertEquals } from "../_assert.ts";

const { Midi } = midiPkg;
const rel = (p: string) => p.slice(CORPUS!.length + 1);

interface IndexRow {
  ok: boolean;
  notes: number;
  zeroLength: number;
}

function readIndex(): Map<string, IndexRow> {
  const rows = new Map<string, IndexRow>();
  const lines = Deno.readTextFileSync(join(CORPUS!, "INDEX.csv")).trim().split("\n");
  const header = lines[0].split(",");
  const col = (name: string) => header.indexOf(name);
  for (const line of lines.slice(1)) {
    const cells = [...line.matchAll(/("(?:[^"]|"")*"|[^,]*)(?:,|$)/g)].map((m) => m[1]);
    rows.set(cells[col("path")], {
      ok: cells[col("ok")] === "True",
      notes: Number(cells[col("notes")]),
      zeroLength: Number(cells[col("zero_len_notes")]),
    });
  }
  return rows;
}

const MUST_REJECT = [
  "jazz-soft-test-midi-files/midi/test-corrupt-file-missing-byte.mid",
  "jazz-soft-test-midi-files/midi/test-empty-file.mid",
  "jazz-soft-test-midi-files/midi/test-not-a-midi-file.mid",
  ...["f1-xx", "f2-xx-xx", "f3-xx", "f4", "f5", "f6", "f8", "f9", "fa", "fb", "fc", "fd", "fe", "all"].map((
    s,
  ) => `jazz-soft-test-midi-files/midi/test-illegal-message-${s}.mid`),
  ...[
    "HeaderChunk",
    "HeaderFormat",
    "HeaderLength",
    "HeaderSMTPE",
    "HeaderTracksNum",
    "TrackHdr",
    "TrackLength",
  ].map(
    (s) => `nfroidure-midifile/sounds/MIDIBad${s}.mid`,
  ),
  "miditok/tests/MIDIs_corrupted/ValueError_Control168.mid",
];
const MUST_READ = [
  "jazz-soft-test-midi-files/midi/test-2-tracks-type-2.mid",
  "jazz-soft-test-midi-files/midi/test-non-midi-track.mid",
  "jazz-soft-test-midi-files/midi/test-running-status-metaevent.mid",
  "jazz-soft-test-midi-files/midi/test-running-status-sysex.mid",
  "jazz-soft-test-midi-files/midi/test-corrupt-file-extra-byte.mid",
  "nfroidure-midifile/sounds/MIDIBadFormat1.mid",
  "tonejs-midi/test/midi/bartok/concerto_for_orchestra_1.mid",
];

Deno.test({
  name: "midi corpus: every file is read or rejected with MidiError; references agree; round trip exact",
  ignore: !CORPUS,
  fn() {
    const index = readIndex();
    const read = new Map<string, Score>();
    const rejected = new Map<string, string>();
    let roundTrips = 0;
    for (const path of walkFiles(CORPUS!)) {
      const name = rel(path);
      const bytes = Deno.readFileSync(path);
      let score: Score;
      try {
        const r = readMidiDetailed(bytes, { name, sustain: false });
        score = r.score;
        const row = index.get(name);
        if (row?.ok) {
          // INDEX counts every note-on that is paired (drums and duplicates included) and the zero-length ones.
          assertEquals(
            score.notes.length + r.report.droppedDrumNotes + r.report.duplicateNotes,
            row.notes,
            name,
          );
          assertEquals(r.report.zeroLengthNotes, row.zeroLength, name);
        }
      } catch (e) {
        if (!(e instanceof MidiError)) throw new Error(`${name}: not a MidiError: ${e}`);
        assert(e.message.startsWith(`${name}: `), e.message);
        rejected.set(name, e.message.slice(name.length + 2));
        continue;
      }
      read.set(name, score);
      const withSustain = readMidi(bytes);
      assertEquals(readMidi(writeMidi(withSustain)), withSustain, `round trip ${name}`);
      roundTrips++;
    }
    const midiRejected = [...rejected].filter(([n]) => /\.(mid|midi|kar)$/i.test(n));
    console.log(
      `corpus: ${read.size} read, ${rejected.size} rejected (${midiRejected.length} with a .mid name, ` +
        `${rejected.size - midiRejected.length} other files), ${roundTrips} exact round trips`,
    );
    for (const [n, why] of midiRejected) console.log(`  rejected ${n}: ${why}`);
    for (const n of MUST_REJECT) assert(rejected.has(n), `${n} should be rejected`);
    for (const n of MUST_READ) assert(read.has(n), `${n} should be read: ${rejected.get(n)}`);
    for (const f of pianoCorpusFiles()) assert(read.has(rel(f)), `piano corpus file ${rel(f)} rejected`);
    // Against the strict scanner: every disagreement is one of these, with the reason.
    const disagreements = [...index].filter(([n, row]) => row.ok !== read.has(n)).map(([n]) => n).sort();
    assertEquals(disagreements, [
      "jazz-soft-test-midi-files/midi/test-non-midi-track.mid", // scanner: unknown chunk is an error; SMF: skip it
      "magenta-note-seq/note_seq/testdata/example_is_drum.mid", // no End-of-Track: scanner accepts, we reject
      "miditok/tests/MIDIs_corrupted/ValueError_Control168.mid", // data byte 0xA8: scanner accepts, we reject
      "nfroidure-midifile/sounds/MIDIBadHeaderFormat.mid", // format 3: scanner accepts, we reject
      "nfroidure-midifile/sounds/MIDIBadHeaderSMTPE.mid", // 16 fps SMPTE: scanner accepts, we reject
      "nfroidure-midifile/sounds/MIDIBadHeaderTracksNum.mid", // 2 tracks declared, 1 present
    ]);
    // The Bartók score's zero-length notes.
    const bartok = readMidiDetailed(
      Deno.readFileSync(join(CORPUS!, "tonejs-midi/test/midi/bartok/concerto_for_orchestra_1.mid")),
    );
    assertEquals(bartok.report.zeroLengthNotes, 6013);
  },
});

Deno.test({
  name: "midi corpus: note onsets agree with @tonejs/midi on the piano corpus",
  ignore: !CORPUS,
  fn() {
    let agree = 0;
    for (const f of pianoCorpusFiles()) {
      const bytes = Deno.readFileSync(f);
      const { score, report } = readMidiDetailed(bytes);
      const tone = new Midi(bytes).tracks.filter((t) => t.channel !== 9).flatMap((t) => t.notes);
      const count = new Map<string, number>();
      for (const n of tone) count.set(`${n.midi}@${n.ticks}`, (count.get(`${n.midi}@${n.ticks}`) ?? 0) + 1);
      for (const n of score.notes) {
        const k = `${n.pitch}@${n.start}`;
        assert((count.get(k) ?? 0) > 0, `${rel(f)}: note ${k} not in @tonejs/midi's reading`);
        count.set(k, count.get(k)! - 1);
      }
      assertEquals(score.notes.length + report.duplicateNotes, tone.length, rel(f));
      agree++;
    }
    assert(agree >= 300, `${agree} files`);
  },
});

Deno.test({
  name: "midi corpus: sustain lengthens MAESTRO notes; drums of a multitrack song are dropped and counted",
  ignore: !CORPUS,
  fn() {
    const maestro = pianoCorpusFiles().filter((f) => /Maestro_|MIDI-Unprocessed/.test(f));
    assert(maestro.length >= 5);
    for (const f of maestro.slice(0, 3)) {
      const bytes = Deno.readFileSync(f);
      const held = readMidiDetailed(bytes);
      const dry = readMidiDetailed(bytes, { sustain: false });
      const mean = (s: Score) => s.notes.reduce((a, n) => a + n.duration, 0) / s.notes.length;
      assertEquals(
        held.score.notes.map((n) => [n.pitch, n.start]),
        dry.score.notes.map((n) => [n.pitch, n.start]),
      );
      assert(
        mean(held.score) > 1.2 * mean(dry.score),
        `${rel(f)}: ${mean(held.score)} vs ${mean(dry.score)}`,
      );
      assert(held.report.sustainExtended > held.score.notes.length / 4, rel(f));
      for (let i = 0; i < held.score.notes.length; i++) {
        assert(held.score.notes[i].duration >= dry.score.notes[i].duration, rel(f));
      }
    }
    const song = Deno.readFileSync(join(CORPUS!, "miditok/tests/MIDIs_multitrack/Funkytown.mid"));
    const { score, report } = readMidiDetailed(song);
    const tone = new Midi(song);
    const toneDrums = tone.tracks.filter((t) => t.channel === 9).reduce((a, t) => a + t.notes.length, 0);
    assert(toneDrums > 1000);
    assertEquals(report.droppedDrumNotes, toneDrums);
    assert(score.notes.length > 1000);
    assert(score.notes.every((n) => n.velocity >= 1 && n.velocity <= 127 && n.pitch >= 0 && n.pitch <= 127));
  },
});
