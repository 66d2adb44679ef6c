// A process with known functions for the symbolization tests. It prints two
// addresses, then spins in spin_here() until killed:
//   - the address of spin_here itself;
//   - an address inside inlined_step(), which the compiler inlines into
//     spin_here (the return address of the call to leaf(), minus one, as an
//     unwinder would report it).
#include <stdint.h>
#include <stdio.h>

static volatile uintptr_t return_address;
static volatile unsigned long counter;

__attribute__((noinline)) void leaf(void) { return_address = (uintptr_t)__builtin_return_address(0); }

static inline __attribute__((always_inline)) void inlined_step(void) {
  leaf();
  counter++;
}

__attribute__((noinline)) void spin_here(void) {
  inlined_step();
  printf("%p %p\n", (void*)spin_here, (void*)(return_address - 1));
  fflush(stdout);
  for (;;) counter++;
}

__attribute__((noinline)) void stacks_outer(void) { spin_here(); }

int main(void) {
  stacks_outer();
  return 0;
}
