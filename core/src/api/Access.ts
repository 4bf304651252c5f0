/**
 * Who may call an endpoint, as data: every endpoint of the API carries one `Access` annotation (Api.ts), the
 * server's guard evaluates it before the request is decoded (coordinator/src/http/Policy.ts), the OpenAPI document
 * shows it, and the authorisation matrix test reads it from the declaration. An endpoint without one is refused by
 * the guard and fails the matrix test, so no route can be added without a rule.
 *
 * Roles come from the chain (an audited member, the registry's supervisor, an operator = an account the task
 * ledger accepts as coordinator) and from the task spec (initiator, party, result recipient).
 */
import { Context } from "effect"

export type Rule =
  /** Anyone, signed in or not. */
  | { readonly _tag: "Public" }
  /** Any valid bearer token, whatever the account's roles (e.g. "who am I"). */
  | { readonly _tag: "SignedIn" }
  /** An audited member of the consortium, or the supervisor. */
  | { readonly _tag: "Member" }
  /** Anyone with a role: audited members, the supervisor, operators (lists narrowed to what each may see). */
  | { readonly _tag: "Known" }
  | { readonly _tag: "Supervisor" }
  /** The task in path parameter `param`: its initiator, parties and recipients; the supervisor and operators (metadata only). */
  | { readonly _tag: "TaskViewer"; readonly param: string }
  /** Cancel: the initiator, an operator or the supervisor. */
  | { readonly _tag: "TaskCanceller"; readonly param: string }
  /** The task's result: its recipients (`Protocols.resultRecipients`: the spec's `recipients`, else those the kind declares), nobody else. */
  | { readonly _tag: "ResultRecipient"; readonly param: string }
  /** A model's metadata: the viewers of the task that trained it. */
  | { readonly _tag: "ModelViewer"; readonly param: string }
  /** A model's weights: the parties that trained it. */
  | { readonly _tag: "ModelTrainer"; readonly param: string }
  /** Predict: the trainers, and holders of a valid grant for the model on chain (each use counted). */
  | { readonly _tag: "ModelPredictor"; readonly param: string }
  /** An artifact: its uploader, the readers of the task that references it, the two sides of a model request naming it. */
  | { readonly _tag: "ArtifactReader"; readonly param: string }

export class Access extends Context.Service<Access, Rule>()("jointly/api/Access") {}

export const Public: Rule = { _tag: "Public" }
export const SignedIn: Rule = { _tag: "SignedIn" }
export const Member: Rule = { _tag: "Member" }
export const Known: Rule = { _tag: "Known" }
export const Supervisor: Rule = { _tag: "Supervisor" }
export const TaskViewer = (param: string): Rule => ({ _tag: "TaskViewer", param })
export const TaskCanceller = (param: string): Rule => ({ _tag: "TaskCanceller", param })
export const ResultRecipient = (param: string): Rule => ({ _tag: "ResultRecipient", param })
export const ModelViewer = (param: string): Rule => ({ _tag: "ModelViewer", param })
export const ModelTrainer = (param: string): Rule => ({ _tag: "ModelTrainer", param })
export const ModelPredictor = (param: string): Rule => ({ _tag: "ModelPredictor", param })
export const ArtifactReader = (param: string): Rule => ({ _tag: "ArtifactReader", param })

/** The rule in words, for the OpenAPI document. */
export const describe = (rule: Rule): string => {
  switch (rule._tag) {
    case "Public":
      return "public"
    case "SignedIn":
      return "any signed-in account"
    case "Member":
      return "audited members and the supervisor"
    case "Known":
      return "audited members, the supervisor and operators, each seeing what its role allows"
    case "Supervisor":
      return "the supervisor"
    case "TaskViewer":
      return "the task's initiator, parties and result recipients; the supervisor and operators see its metadata"
    case "TaskCanceller":
      return "the task's initiator, an operator or the supervisor"
    case "ResultRecipient":
      return "the task's result recipients (spec.recipients, else the initiator)"
    case "ModelViewer":
      return "the initiator and parties of the task that trained the model, the supervisor and operators"
    case "ModelTrainer":
      return "the parties that trained the model"
    case "ModelPredictor":
      return "the parties that trained the model, and holders of a valid grant for it on chain (each use counted)"
    case "ArtifactReader":
      return "the uploader, the readers of the task that references the artifact, and both sides of a model request naming it"
  }
}
