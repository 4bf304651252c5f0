import { kernelConformance } from "../testing/kernel-conformance.ts"
import { tsKernels } from "./TsKernels.ts"

kernelConformance(() => tsKernels)
