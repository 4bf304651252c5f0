/**
 * Extra protocol modules (each exporting `protocols`, declared with `defineProtocol`) known besides the declared
 * ones, so tests can run protocols that misbehave on purpose. Loaded by the protocol thread, which runs their
 * stages, and by the agent's thread, which reads their offers (`Runner.read`) before consenting.
 */
import * as Protocols from "@jointly/core/internal/protocols/Protocols"

export type Declarations = ReadonlyArray<Protocols.Task["protocol"]>

/** The modules' protocols ahead of the declared ones; rejects naming a module that exports no `protocols`. */
export const load = async (modules: ReadonlyArray<string>): Promise<Declarations> => {
  const extra: Array<Protocols.Task["protocol"]> = []
  for (const url of modules) {
    // Test protocols need no services beyond the declared ones (their type is checked where they are declared).
    const module = (await import(url)) as { protocols?: Declarations }
    if (module.protocols === undefined) throw new Error(`protocol module ${url} exports no \`protocols\``)
    extra.push(...module.protocols)
  }
  return [...extra, ...Protocols.all]
}
