/** The model the training benchmarks share (horizontal.ts, browser-ops.ts); portable, for the browser bench's worker. */

/** Dense 64 → 512 → 128 → 10: 100,234 parameters. */
export const topology = {
  class_name: "Sequential",
  config: {
    name: "bench",
    layers: [
      { class_name: "Dense", config: { units: 512, activation: "relu", batch_input_shape: [null, 64] } },
      { class_name: "Dense", config: { units: 128, activation: "relu" } },
      { class_name: "Dense", config: { units: 10, activation: "softmax" } }
    ]
  }
}
