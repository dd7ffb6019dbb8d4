/**
 * A small RFC 4180 CSV reader (quoted fields with commas, doubled quotes, CRLF or LF, newlines inside quotes).
 *
 * @module
 */

/** One parsed CSV row with the 1-based line on which it starts (for error messages). */
export interface CsvRow {
  line: number;
  fields: string[];
}

/**
 * Parses CSV text into rows; blank lines are dropped. Throws on an unterminated quoted field.
 *
 * @example
 * ```ts
 * import { parseCsv } from "./_csv.ts";
 * parseCsv('a,"b, c"\n1,"say ""hi"""\n'); // [{line:1, fields:["a","b, c"]}, {line:2, fields:["1",'say "hi"']}]
 * ```
 */
export function parseCsv(text: string, source = "CSV"): CsvRow[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const rows: CsvRow[] = [];
  let fields: string[] = [];
  let field = "";
  let line = 1;
  let rowLine = 1;
  let i = 0;
  let quoted = false;
  let sawAny = false;
  const endRow = () => {
    fields.push(field);
    if (fields.length > 1 || fields[0] !== "") rows.push({ line: rowLine, fields });
    fields = [];
    field = "";
    sawAny = false;
  };
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      if (c === "\n") line++;
      field += c;
      i++;
      continue;
    }
    if (c === '"' && field === "") {
      quoted = true;
      sawAny = true;
      i++;
    } else if (c === ",") {
      fields.push(field);
      field = "";
      sawAny = true;
      i++;
    } else if (c === "\r" || c === "\n") {
      endRow();
      i += c === "\r" && text[i + 1] === "\n" ? 2 : 1;
      line++;
      rowLine = line;
    } else {
      field += c;
      sawAny = true;
      i++;
    }
  }
  if (quoted) throw new Error(`${source}:${rowLine}: unterminated quoted field`);
  if (sawAny || field !== "") endRow();
  return rows;
}
