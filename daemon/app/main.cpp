#include <iostream>
int main() { std::cerr << "driftwatch: not implemented yet\n"; return 2; }
