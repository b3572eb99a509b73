; inherits: typescript
; The TSX grammar is a separate parser with the same node types as TypeScript (plus JSX), so it shares its queries.
