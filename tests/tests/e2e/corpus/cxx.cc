#include <string>
#include <vector>
#include <map>
#include <cstdio>
template <typename T> T sum(const std::vector<T>& v) { T s{}; for (auto& x : v) s += x; return s; }
int main() {
    std::map<std::string, int> m{{"a", 1}};
    const char* raw = R"delim(raw "string" with \n no escapes)delim";
    std::printf("%d %s %d\n", sum(std::vector<int>{1, 2, 3}), raw, m["a"]);
    return 0;
}
