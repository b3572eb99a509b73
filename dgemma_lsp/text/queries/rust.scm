; Textobject captures for Rust (names follow nvim-treesitter-textobjects).
; Captures starting with "_" are helpers for predicates and for syntax.py; they are not textobjects.

; ---- functions --------------------------------------------------------------------------------------------------

; Free functions, and methods in impl and trait blocks (they are function_items too).
(function_item
  name: (identifier) @function.name
  body: (block) @function.inner) @function.outer

(closure_expression
  body: (_) @function.inner) @function.outer

(let_declaration
  pattern: (identifier) @function.name
  value: (closure_expression) @function.outer)

; ---- blocks and statements --------------------------------------------------------------------------------------

[
  (block)
  (declaration_list)
  (field_declaration_list)
  (enum_variant_list)
  (match_block)
] @block.inner

(block "{" @block.open)
(declaration_list "{" @block.open)
(field_declaration_list "{" @block.open)
(enum_variant_list "{" @block.open)
(match_block "{" @block.open)
(struct_expression body: (field_initializer_list "{" @block.open))
; `fn f() {` with nothing after it yet parses as an ERROR holding the brace.
(ERROR "{" @block.open)

[
  (expression_statement)
  (let_declaration)
  (function_item)
  (struct_item)
  (enum_item)
  (impl_item)
  (trait_item)
  (mod_item)
  (use_declaration)
  (const_item)
  (static_item)
  (type_item)
  (macro_definition)
] @statement.outer

[
  (line_comment)
  (block_comment)
] @comment.outer

[
  (string_literal)
  (raw_string_literal)
  (char_literal)
] @string.outer

; ---- stubs: a statement that stands for a missing function body ---------------------------------------------------
; The parent is left open (`_`): function_sites keeps only the bodies of @function.outer nodes, and checks there that
; the stub is the body's only content apart from comments, which the anchor operator cannot skip.

; `todo!()` as the body's tail expression, without a semicolon.
(_
  body: (block
    (macro_invocation macro: (identifier) @_macro) @stub.inner) @_body
  (#any-of? @_macro "todo" "unimplemented"))

(_
  body: (block
    (expression_statement
      (macro_invocation macro: (identifier) @_macro)) @stub.inner) @_body
  (#any-of? @_macro "todo" "unimplemented"))

(_
  body: (block [(line_comment) (block_comment)] @stub.inner) @_body
  (#match? @stub.inner "TODO|FIXME"))
