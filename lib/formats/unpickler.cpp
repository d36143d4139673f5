#include "formats/unpickler.hpp"

#include <cstdio>
#include <cstring>

#include "core/error.hpp"

namespace alexnet::pickle {

namespace {

// Values one pickle may create (a state dict needs about ten per tensor); bounds the memory a small
// file of one-byte opcodes could ask for (about 50 MB).
constexpr size_t kMaxPickleValues = 1'000'000;

const std::map<std::string, std::string> kStorages{
    {"torch.FloatStorage", "F32"}, {"torch.HalfStorage", "F16"}, {"torch.BFloat16Storage", "BF16"}};

std::string hex(unsigned v) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%02x", v);
    return buf;
}

}  // namespace

uint8_t Unpickler::byte() {
    if (pos_ >= size_) throw Error(where_, "pickle", "a STOP opcode before the end", "truncated data");
    return b_[pos_++];
}

const uint8_t* Unpickler::take(size_t n) {
    if (n > size_ - pos_) throw Error(where_, "pickle", std::to_string(n) + " more bytes", "truncated data");
    pos_ += n;
    return b_ + pos_ - n;
}

uint64_t Unpickler::uint(int n) {
    const uint8_t* p = take(size_t(n));
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

std::string Unpickler::str(uint64_t n) {
    const uint8_t* p = take(size_t(n));
    return std::string(reinterpret_cast<const char*>(p), size_t(n));
}

std::string Unpickler::line() {
    std::string s;
    for (char c; (c = char(byte())) != '\n';) s += c;
    return s;
}

template <class T>
Value* Unpickler::make(T x) {
    if (arena_.size() >= kMaxPickleValues)
        throw Error(where_, "pickle", "at most " + std::to_string(kMaxPickleValues) + " values", "more (not a state dict)");
    arena_.emplace_back().v = std::move(x);
    return &arena_.back();
}

Value* Unpickler::top() {
    if (stack_.empty()) throw Error(where_, "pickle", "a value on the stack", "an empty stack");
    return stack_.back();
}

Value* Unpickler::pop() {
    Value* v = top();
    stack_.pop_back();
    return v;
}

List Unpickler::pop_n(size_t n) {
    if (stack_.size() < n)
        throw Error(where_, "pickle", std::to_string(n) + " values on the stack", std::to_string(stack_.size()));
    List out(stack_.end() - long(n), stack_.end());
    stack_.resize(stack_.size() - n);
    return out;
}

List Unpickler::pop_mark() {
    for (size_t i = stack_.size(); i-- > 0;)
        if (std::holds_alternative<Mark>(stack_[i]->v)) {
            List out(stack_.begin() + long(i) + 1, stack_.end());
            stack_.resize(i);
            return out;
        }
    throw Error(where_, "pickle", "a MARK on the stack", "none");
}

Value* Unpickler::memo(uint64_t k) {
    auto it = memo_.find(k);
    check(it != memo_.end(), where_, "pickle memo", "entry " + std::to_string(k), "none");
    return it->second;
}

Value* Unpickler::tuple(List items) {
    Value* p = make(std::move(items));
    p->is_tuple = true;
    return p;
}

template <class T>
T& Unpickler::as(Value* v, const char* what) {
    T* p = std::get_if<T>(&v->v);
    if (!p) throw Error(where_, std::string("pickle ") + what + ": an operand of an unexpected type");
    return *p;
}

// LONG1's operand: an integer of up to 8 bytes, little-endian two's complement
Value* Unpickler::long1() {
    const size_t n = byte();
    int64_t v = 0;
    if (n > 8) return make(str(n));  // only the legacy format's magic number is that long
    for (size_t i = 0; i < n; ++i) v |= int64_t(byte()) << (8 * i);
    if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v -= int64_t(1) << (8 * n);
    return make(v);
}

// BINFLOAT's operand: a double, big-endian
double Unpickler::binfloat() {
    uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = (bits << 8) | byte();
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
}

Value* Unpickler::global(const std::string& name) {
    static const char* allowed[] = {"collections.OrderedDict", "torch._utils._rebuild_tensor_v2",
                                    "torch._utils._rebuild_tensor", "torch._utils._rebuild_parameter"};
    bool ok = kStorages.count(name) != 0;
    for (const char* a : allowed) ok = ok || name == a;
    if (!ok)
        throw Error(where_, "'" + name +
                                "' is not allowed: only a state dict's tensors are read from a .pth, and nothing "
                                "in it is executed");
    return make(Global{name});
}

Value* Unpickler::persistent(Value* pid) {
    const List& t = as<List>(pid, "BINPERSID");
    check(t.size() >= 5 && std::holds_alternative<std::string>(t[0]->v) && std::get<std::string>(t[0]->v) == "storage",
          where_, "persistent id", "('storage', type, key, location, numel)", "another form");
    const std::string type = as<Global>(t[1], "storage type").name;
    const auto dtype = kStorages.find(type);
    check(dtype != kStorages.end(), where_, "persistent id", "a float, half or bfloat16 storage type", type);
    Storage s;
    s.dtype = dtype->second;
    s.key = as<std::string>(t[2], "storage key");
    s.numel = as<int64_t>(t[4], "storage size");
    check(t.size() < 6 || std::holds_alternative<std::monostate>(t[5]->v), where_, "storage " + s.key,
          "a whole storage", "a view into another (not supported)");
    storage_types_[s.key] = s.dtype;
    storages_.push_back(std::move(s));
    return make(static_cast<const Storage*>(&storages_.back()));
}

std::vector<int64_t> Unpickler::ints(Value* v, const char* what) {
    std::vector<int64_t> out;
    for (const auto& x : as<List>(v, what)) out.push_back(as<int64_t>(x, what));
    return out;
}

Value* Unpickler::reduce(Value* fn, Value* args) {
    const std::string& name = as<Global>(fn, "REDUCE").name;
    const List& a = as<List>(args, "REDUCE arguments");
    if (name == "collections.OrderedDict") return make(Dict{});
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
        check(a.size() >= 4, where_, name, "storage, offset, size, stride", std::to_string(a.size()) + " arguments");
        TensorRef t;
        t.storage = *as<const Storage*>(a[0], "tensor storage");
        t.offset = as<int64_t>(a[1], "tensor offset");
        t.shape = ints(a[2], "tensor size");
        t.stride = ints(a[3], "tensor stride");
        tensors_.push_back(std::move(t));
        return make(static_cast<const TensorRef*>(&tensors_.back()));
    }
    if (name == "torch._utils._rebuild_parameter") {
        check(!a.empty(), where_, name, "a tensor argument", "none");
        as<const TensorRef*>(a[0], "parameter");
        return a[0];
    }
    throw Error(where_, "'" + name + "' cannot be called: it is not a constructor a state dict needs");
}

// One case per pickle opcode: splitting the switch would scatter the machine's state.
Value* Unpickler::run() {
    stack_.clear();
    while (true) {
        const size_t at = pos_;
        const uint8_t op = byte();
        switch (op) {
            case 0x80: byte(); break;                      // PROTO
            case 0x95: take(8); break;                     // FRAME
            case '.': return pop();                        // STOP
            case '(': push(make(Mark{})); break;           // MARK
            case ')': push(tuple({})); break;              // EMPTY_TUPLE
            case '}': push(make(Dict{})); break;           // EMPTY_DICT
            case ']': push(make(List{})); break;           // EMPTY_LIST
            case 'N': push(make(std::monostate{})); break;  // NONE
            case 0x88: push(make(true)); break;            // NEWTRUE
            case 0x89: push(make(false)); break;           // NEWFALSE
            case 'K': push(make(int64_t(byte()))); break;  // BININT1
            case 'M': push(make(int64_t(uint(2)))); break;  // BININT2
            case 'J': push(make(int64_t(int32_t(uint(4))))); break;  // BININT
            case 0x8a: push(long1()); break;               // LONG1
            case 'G': push(make(binfloat())); break;       // BINFLOAT
            case 'X': push(make(str(uint(4)))); break;    // BINUNICODE
            case 0x8c: push(make(str(byte()))); break;    // SHORT_BINUNICODE
            case 'U': push(make(str(byte()))); break;     // SHORT_BINSTRING
            case 'T': push(make(str(uint(4)))); break;    // BINSTRING
            case 'C': push(make(str(byte()))); break;     // SHORT_BINBYTES
            case 'B': push(make(str(uint(4)))); break;    // BINBYTES
            case 'q': memo_[byte()] = top(); break;        // BINPUT
            case 'r': memo_[uint(4)] = top(); break;       // LONG_BINPUT
            case 0x94: memo_[memo_.size()] = top(); break;  // MEMOIZE
            case 'h': push(memo(byte())); break;           // BINGET
            case 'j': push(memo(uint(4))); break;          // LONG_BINGET
            case 't': push(tuple(pop_mark())); break;      // TUPLE
            case 0x85: push(tuple(pop_n(1))); break;       // TUPLE1
            case 0x86: push(tuple(pop_n(2))); break;       // TUPLE2
            case 0x87: push(tuple(pop_n(3))); break;       // TUPLE3
            case 'a': {                                    // APPEND
                Value* v = pop();
                as<List>(top(), "APPEND").push_back(v);
                break;
            }
            case 'e': {  // APPENDS
                List items = pop_mark();
                List& l = as<List>(top(), "APPENDS");
                l.insert(l.end(), items.begin(), items.end());
                break;
            }
            case 's': {  // SETITEM
                Value *v = pop(), *k = pop();
                as<Dict>(top(), "SETITEM").push_back({k, v});
                break;
            }
            case 'u': {  // SETITEMS
                List items = pop_mark();
                Dict& d = as<Dict>(top(), "SETITEMS");
                for (size_t i = 0; i + 1 < items.size(); i += 2) d.push_back({items[i], items[i + 1]});
                break;
            }
            case 'c': {  // GLOBAL
                const std::string module = line(), name = line();
                push(global(module + "." + name));
                break;
            }
            case 0x93: {  // STACK_GLOBAL
                Value *name = pop(), *module = pop();
                push(global(as<std::string>(module, "STACK_GLOBAL") + "." + as<std::string>(name, "STACK_GLOBAL")));
                break;
            }
            case 'Q': push(persistent(pop())); break;  // BINPERSID
            case 'R': {                                // REDUCE
                Value *args = pop(), *fn = pop();
                push(reduce(fn, args));
                break;
            }
            case 'b': {  // BUILD: only an OrderedDict's _metadata, which is not needed
                pop();
                check(std::holds_alternative<Dict>(top()->v), where_, "BUILD", "state for a dict", "another object");
                break;
            }
            default:
                throw Error(where_, "pickle opcode 0x" + hex(op) + " at byte " + std::to_string(at) +
                                        " is not one a state dict uses; refusing the file");
        }
    }
}

}  // namespace alexnet::pickle
