import { ed25519Conformance } from "../testing/kernel-conformance.ts"
import * as Ed25519 from "./Ed25519.ts"

ed25519Conformance(() => Ed25519.make(Ed25519.noble))
