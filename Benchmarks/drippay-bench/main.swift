// Benchmarks: filled by the issues that own each figure.
print("no benchmarks yet")
