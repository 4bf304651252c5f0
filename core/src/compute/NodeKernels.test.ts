import { kernelConformance } from "../testing/kernel-conformance.ts"
import { nodeKernels } from "./NodeKernels.ts"

kernelConformance(() => nodeKernels)
