// A typed stack; the stubs are filled by `dgemma-lsp fill examples/`.

export class Stack<T> {
  private items: T[] = [];

  push(item: T): void {
    this.items.push(item);
  }

  pop(): T | undefined {
    throw new Error("not implemented");
  }

  size(): number {
    throw new Error("TODO");
  }
}
