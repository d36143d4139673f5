#pragma once
// The restricted unpickler behind read_pth (pth.cpp), in files of its own so that the pickle
// machine and the reading of a state dict's tensors each read in one sitting. Internal to
// lib/formats; callers use pth.hpp.
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace alexnet::pickle {

// Values live in the unpickler's arena and refer to each other by plain pointers: a million nested
// lists are destroyed one by one (no recursive destructors), and a list that contains itself is
// no leak (no reference cycles of shared pointers).
struct Value;
struct Global {
    std::string name;  // module.name
};
struct Storage {
    std::string key, dtype;  // dtype: F32, F16, BF16
    int64_t numel = 0;
};
struct TensorRef {
    Storage storage;
    int64_t offset = 0;
    std::vector<int64_t> shape, stride;
};
struct Mark {};
using List = std::vector<Value*>;
using Dict = std::vector<std::pair<Value*, Value*>>;
struct Value {
    // storages and tensors are kept apart by the unpickler: a value stays small (48 bytes)
    std::variant<std::monostate, bool, int64_t, double, std::string, List, Dict, Global, const Storage*, const TensorRef*,
                 Mark>
        v;
    bool is_tuple = false;
};

class Unpickler {
public:
    Unpickler(const std::string& where, const uint8_t* bytes, size_t size) : where_(where), b_(bytes), size_(size) {}
    Unpickler(const Unpickler&) = delete;
    Unpickler& operator=(const Unpickler&) = delete;
    size_t position() const { return pos_; }
    const std::map<std::string, std::string>& storage_types() const { return storage_types_; }  // key -> dtype

    // One pickle from the current position (legacy files hold several in a row). The values stay
    // valid as long as the unpickler.
    Value* run();

private:
    std::string where_;
    const uint8_t* b_;
    size_t size_ = 0, pos_ = 0;
    std::deque<Value> arena_;
    std::deque<Storage> storages_;
    std::deque<TensorRef> tensors_;
    List stack_;
    std::map<uint64_t, Value*> memo_;
    std::map<std::string, std::string> storage_types_;

    // the operands of opcodes
    uint8_t byte();
    const uint8_t* take(size_t n);
    uint64_t uint(int n);
    std::string str(uint64_t n);
    std::string line();
    Value* long1();
    double binfloat();
    // the stack, the memo and the values
    template <class T>
    Value* make(T x);
    void push(Value* v) { stack_.push_back(v); }
    Value* top();
    Value* pop();
    List pop_n(size_t n);
    List pop_mark();
    Value* memo(uint64_t k);
    Value* tuple(List items);
    template <class T>
    T& as(Value* v, const char* what);
    // the objects a state dict is made of
    Value* global(const std::string& name);
    Value* persistent(Value* pid);
    std::vector<int64_t> ints(Value* v, const char* what);
    Value* reduce(Value* fn, Value* args);
};

}  // namespace alexnet::pickle
