import { x25519Conformance } from "../testing/kernel-conformance.ts"
import * as KeyAgreement from "./KeyAgreement.ts"

x25519Conformance(() => KeyAgreement.make(KeyAgreement.noble))
