// A word counter; the stubs are filled by `dgemma-lsp fill examples/`.
use std::collections::HashMap;

pub fn count_words(text: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word.to_string()).or_insert(0) += 1;
    }
    counts
}

pub fn most_common(counts: &HashMap<String, usize>) -> Option<(String, usize)> {
    todo!()
}

pub fn total(counts: &HashMap<String, usize>) -> usize {
    unimplemented!("sum the counts")
}
