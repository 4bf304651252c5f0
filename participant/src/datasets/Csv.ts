/**
 * RFC 4180 record splitting, one physical line at a time, so a file can be streamed line by line: commas and
 * doubled quotes inside quoted fields, and quoted fields that span lines (rejoined with "\n"). Lenient where
 * the RFC is strict: a quote inside an unquoted field, or text after a closing quote, is kept literally.
 */
export class RecordSplitter {
  #fields: Array<string> = []
  #field = ""
  #inQuotes = false
  #quoted = false

  /** True while a quoted field is open across a line break. */
  get pending(): boolean {
    return this.#inQuotes
  }

  /** 0-based index of the field being read: the open quoted field while `pending`. */
  get fieldIndex(): number {
    return this.#fields.length
  }

  /** Feeds one line (without its line break); returns the record's fields once it is complete. */
  push(line: string): Array<string> | undefined {
    for (let i = 0; i < line.length; i++) {
      const c = line[i]!
      if (this.#inQuotes) {
        if (c !== '"') this.#field += c
        else if (line[i + 1] === '"') {
          this.#field += '"'
          i++
        } else this.#inQuotes = false
      } else if (c === ",") {
        this.#fields.push(this.#field)
        this.#field = ""
        this.#quoted = false
      } else if (c === '"' && this.#field === "" && !this.#quoted) {
        this.#inQuotes = true
        this.#quoted = true
      } else this.#field += c
    }
    if (this.#inQuotes) {
      this.#field += "\n"
      return undefined
    }
    const fields = this.#fields
    fields.push(this.#field)
    this.#fields = []
    this.#field = ""
    this.#quoted = false
    return fields
  }
}
