; inherits: javascript
; TypeScript adds bodies of its own declarations to what javascript.scm captures.

[
  (interface_body)
  (enum_body)
] @block.inner

(interface_body "{" @block.open)
(enum_body "{" @block.open)

[
  (interface_declaration)
  (type_alias_declaration)
  (enum_declaration)
  (abstract_class_declaration)
  (module)
  (internal_module)
] @statement.outer
