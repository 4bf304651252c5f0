// A module resolution hook (registered by from-sources.mjs) adding the `@jointly/source` condition.
export const resolve = (specifier, context, next) =>
  next(specifier, context.conditions.includes("@jointly/source") ? context : { ...context, conditions: [...context.conditions, "@jointly/source"] })
