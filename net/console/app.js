// The console (placeholder until written).
