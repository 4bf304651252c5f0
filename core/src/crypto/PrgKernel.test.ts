import { prgConformance } from "../testing/kernel-conformance.ts"
import * as PrgKernel from "./PrgKernel.ts"

prgConformance(() => PrgKernel.noble)
