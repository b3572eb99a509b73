// String helpers; the stubs are filled by `dgemma-lsp fill examples/`.

function capitalize(word) {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

function reverse(text) {
  throw new Error("not implemented");
}

function isPalindrome(text) {
  // TODO
}

module.exports = { capitalize, reverse, isPalindrome };
