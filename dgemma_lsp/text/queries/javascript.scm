; Textobject captures for JavaScript (names follow nvim-treesitter-textobjects). typescript.scm and tsx.scm inherit
; this file, so it only names node types that the TypeScript grammars share.
; Captures starting with "_" are helpers for predicates and for syntax.py; they are not textobjects.

; ---- functions --------------------------------------------------------------------------------------------------

(function_declaration
  name: (identifier) @function.name
  body: (statement_block) @function.inner) @function.outer

(generator_function_declaration
  name: (identifier) @function.name
  body: (statement_block) @function.inner) @function.outer

(function_expression
  name: (identifier)? @function.name
  body: (statement_block) @function.inner) @function.outer

(generator_function
  name: (identifier)? @function.name
  body: (statement_block) @function.inner) @function.outer

(method_definition
  name: (_) @function.name
  body: (statement_block) @function.inner) @function.outer

(arrow_function
  body: (_) @function.inner) @function.outer

; Anonymous functions take the name they are bound to.
(variable_declarator
  name: (identifier) @function.name
  value: [(arrow_function) (function_expression) (generator_function)] @function.outer)

(pair
  key: (_) @function.name
  value: [(arrow_function) (function_expression) (generator_function)] @function.outer)

(assignment_expression
  left: (_) @function.name
  right: [(arrow_function) (function_expression) (generator_function)] @function.outer)

; ---- blocks and statements --------------------------------------------------------------------------------------

[
  (statement_block)
  (class_body)
  (switch_body)
] @block.inner

(statement_block "{" @block.open)
(class_body "{" @block.open)
(switch_body "{" @block.open)
(object "{" @block.open)
; An unclosed brace that error recovery could not place.
(ERROR "{" @block.open)

[
  (expression_statement)
  (lexical_declaration)
  (variable_declaration)
  (function_declaration)
  (generator_function_declaration)
  (class_declaration)
  (return_statement)
  (throw_statement)
  (if_statement)
  (for_statement)
  (for_in_statement)
  (while_statement)
  (do_statement)
  (try_statement)
  (switch_statement)
  (break_statement)
  (continue_statement)
  (labeled_statement)
  (import_statement)
  (export_statement)
  (debugger_statement)
  (empty_statement)
] @statement.outer

(comment) @comment.outer

[
  (string)
  (template_string)
] @string.outer

; ---- stubs: a statement that stands for a missing function body ---------------------------------------------------
; The parent is left open (`_`): function_sites keeps only the bodies of @function.outer nodes, and checks there that
; the stub is the body's only content apart from comments, which the anchor operator cannot skip.

(_
  body: (statement_block
    (throw_statement
      (new_expression
        constructor: (identifier) @_error
        arguments: (arguments . [(string) (template_string)] @_message))) @stub.inner) @_body
  (#match? @_error "Error$")
  (#match? @_message "(?i)not implemented|todo"))

(_
  body: (statement_block (comment) @stub.inner) @_body
  (#match? @stub.inner "TODO|FIXME"))

; ---- calls: the arguments of a call, for the real-code benchmark's call-argument holes ------------------------------

(call_expression
  arguments: (arguments) @call.arguments)
