/**
 * The Diffie–Hellman route (the fallback where the addon's BN kernels are missing, and benchmarks' same-run
 * baseline) held to the kernel conformance suite on its own: the Node composition runs the native kernels, so
 * Backends.test.ts no longer reaches this one.
 */
import { kernelConformance } from "@jointly/core/internal/testing/kernel-conformance"
import * as OpenSslKernels from "./OpenSslKernels.ts"

kernelConformance(() => OpenSslKernels.makeDh())
