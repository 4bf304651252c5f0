import { prgConformance } from "../testing/kernel-conformance.ts"
import * as PrgKernel from "./PrgKernel.ts"

prgConformance(() => PrgKernel.noble)
// The portable backends' kernel: noble, and AES-128-CTR through WebCrypto on the asynchronous path.
prgConformance(() => PrgKernel.webCrypto(globalThis.crypto.subtle))
