#include "formats/pth.hpp"

#include <cstring>
#include <deque>
#include <map>
#include <variant>

#include "core/checked_size.hpp"
#include "core/error.hpp"
#include "core/regular_file.hpp"
#include "io/mapped_file.hpp"
#include "formats/safetensors.hpp"
#include "formats/zip.hpp"

namespace alexnet {

bool looks_like_zip(const std::string& path) { return read_file_head(path, 4) == std::string("PK\x03\x04", 4); }

bool looks_like_pth(const std::string& path) {
    if (looks_like_zip(path)) return true;
    // legacy: PROTO 2, LONG1 of 10 bytes: 0x1950a86a20f9469cfc6c little-endian
    static const char magic[] = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
    return read_file_head(path, sizeof magic - 1) == std::string(magic, sizeof magic - 1);
}

namespace {

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

// Values one pickle may create (a state dict needs about ten per tensor); bounds the memory a small
// file of one-byte opcodes could ask for (about 50 MB).
constexpr size_t kMaxPickleValues = 1'000'000;
constexpr size_t kMaxTensorDims = 8;

const std::map<std::string, std::string> kStorages{
    {"torch.FloatStorage", "F32"}, {"torch.HalfStorage", "F16"}, {"torch.BFloat16Storage", "BF16"}};

class Unpickler {
public:
    Unpickler(const std::string& where, const uint8_t* bytes, size_t size) : where_(where), b_(bytes), size_(size) {}
    Unpickler(const Unpickler&) = delete;
    Unpickler& operator=(const Unpickler&) = delete;
    size_t position() const { return pos_; }
    const std::map<std::string, std::string>& storage_types() const { return storage_types_; }  // key -> dtype

    // One pickle from the current position (legacy files hold several in a row). The values stay
    // valid as long as the unpickler.
    Value* run() {
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
                case 0x8a: {                                    // LONG1
                    const size_t n = byte();
                    int64_t v = 0;
                    if (n > 8) {  // only the legacy format's magic number is that long
                        push(make(str(n)));
                        break;
                    }
                    for (size_t i = 0; i < n; ++i) v |= int64_t(byte()) << (8 * i);
                    if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v -= int64_t(1) << (8 * n);
                    push(make(v));
                    break;
                }
                case 'G': {  // BINFLOAT, big-endian
                    uint64_t bits = 0;
                    for (int i = 0; i < 8; ++i) bits = (bits << 8) | byte();
                    double d;
                    std::memcpy(&d, &bits, 8);
                    push(make(d));
                    break;
                }
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

    static std::string hex(unsigned v) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "%02x", v);
        return buf;
    }
    uint8_t byte() {
        if (pos_ >= size_) throw Error(where_, "pickle", "a STOP opcode before the end", "truncated data");
        return b_[pos_++];
    }
    const uint8_t* take(size_t n) {
        if (n > size_ - pos_) throw Error(where_, "pickle", std::to_string(n) + " more bytes", "truncated data");
        pos_ += n;
        return b_ + pos_ - n;
    }
    uint64_t uint(int n) {
        const uint8_t* p = take(size_t(n));
        uint64_t v = 0;
        for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
        return v;
    }
    std::string str(uint64_t n) {
        const uint8_t* p = take(size_t(n));
        return std::string(reinterpret_cast<const char*>(p), size_t(n));
    }
    std::string line() {
        std::string s;
        for (char c; (c = char(byte())) != '\n';) s += c;
        return s;
    }
    template <class T>
    Value* make(T x) {
        if (arena_.size() >= kMaxPickleValues)
            throw Error(where_, "pickle", "at most " + std::to_string(kMaxPickleValues) + " values", "more (not a state dict)");
        arena_.emplace_back().v = std::move(x);
        return &arena_.back();
    }
    void push(Value* v) { stack_.push_back(v); }
    Value* top() {
        if (stack_.empty()) throw Error(where_, "pickle", "a value on the stack", "an empty stack");
        return stack_.back();
    }
    Value* pop() {
        Value* v = top();
        stack_.pop_back();
        return v;
    }
    List pop_n(size_t n) {
        if (stack_.size() < n)
            throw Error(where_, "pickle", std::to_string(n) + " values on the stack", std::to_string(stack_.size()));
        List out(stack_.end() - long(n), stack_.end());
        stack_.resize(stack_.size() - n);
        return out;
    }
    List pop_mark() {
        for (size_t i = stack_.size(); i-- > 0;)
            if (std::holds_alternative<Mark>(stack_[i]->v)) {
                List out(stack_.begin() + long(i) + 1, stack_.end());
                stack_.resize(i);
                return out;
            }
        throw Error(where_, "pickle", "a MARK on the stack", "none");
    }
    Value* memo(uint64_t k) {
        auto it = memo_.find(k);
        check(it != memo_.end(), where_, "pickle memo", "entry " + std::to_string(k), "none");
        return it->second;
    }
    Value* tuple(List items) {
        Value* p = make(std::move(items));
        p->is_tuple = true;
        return p;
    }
    template <class T>
    T& as(Value* v, const char* what) {
        T* p = std::get_if<T>(&v->v);
        if (!p) throw Error(where_, std::string("pickle ") + what + ": an operand of an unexpected type");
        return *p;
    }
    Value* global(const std::string& name) {
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
    Value* persistent(Value* pid) {
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
    std::vector<int64_t> ints(Value* v, const char* what) {
        std::vector<int64_t> out;
        for (const auto& x : as<List>(v, what)) out.push_back(as<int64_t>(x, what));
        return out;
    }
    Value* reduce(Value* fn, Value* args) {
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
};

}  // namespace

namespace {

// A storage's bytes: in place (mapped) or copied (deflated zip entries).
struct StorageBytes {
    const uint8_t* data = nullptr;
    size_t size = 0;
    bool in_place = false;
    std::vector<uint8_t> copy;
};

float element_at(const uint8_t* base, uint64_t i, const std::string& dtype) {
    if (dtype == "F32") {
        float f;
        std::memcpy(&f, base + 4 * i, 4);
        return f;
    }
    uint16_t h;
    std::memcpy(&h, base + 2 * i, 2);
    return dtype == "F16" ? half_to_float(h) : bfloat16_to_float(h);
}

// Every element of `t` (offset, shape, strides) lies inside its storage of `storage_numel` elements.
void check_inside_storage(const std::string& path, const std::string& name, const TensorRef& t, uint64_t numel,
                          uint64_t storage_numel) {
    const std::string found = "offset " + std::to_string(t.offset) + ", shape " + shape_string(t.shape) + ", strides " +
                              shape_string(t.stride);
    const std::string expected = "elements inside its storage of " + std::to_string(storage_numel);
    check(t.offset >= 0, path, name, expected, found);
    uint64_t last = uint64_t(t.offset);  // the furthest element: every index at its largest
    for (size_t d = 0; d < t.shape.size(); ++d) {
        check(t.stride[d] >= 0, path, name, "non-negative strides", found);
        if (numel > 0) last = checked_add(last, checked_mul(uint64_t(t.shape[d] - 1), uint64_t(t.stride[d]), path, name), path, name);
    }
    check(numel == 0 || last < storage_numel, path, name, expected, found);
}

// The tensor's elements in row-major order, gathered through its strides (a transposed view saved
// as it is, e.g. after .t()); check_inside_storage first.
std::vector<float> gather(const TensorRef& t, const StorageBytes& s, uint64_t numel) {
    std::vector<float> out(static_cast<size_t>(numel));
    const size_t dims = t.shape.size();
    std::vector<int64_t> index(dims, 0);
    uint64_t at = uint64_t(t.offset);
    for (uint64_t k = 0; k < numel; ++k) {
        out[size_t(k)] = element_at(s.data, at, t.storage.dtype);
        for (size_t d = dims; d-- > 0;) {  // the next index, last dimension fastest
            if (++index[d] < t.shape[d]) {
                at += uint64_t(t.stride[d]);
                break;
            }
            at -= uint64_t(t.shape[d] - 1) * uint64_t(t.stride[d]);
            index[d] = 0;
        }
    }
    return out;
}

// The state dict's tensors from the unpickled root, reading storages through `storage`.
template <class StorageFn>
Weights tensors_from(const std::string& path, const Value* root, StorageFn storage) {
    const Dict* dict = std::get_if<Dict>(&root->v);
    check(dict != nullptr, path, "data.pkl", "a state dict (a dict of tensors)", "another object");
    for (const auto& [k, v] : *dict) {  // a training checkpoint: {"state_dict": {...}, "epoch": ...}
        const std::string* key = std::get_if<std::string>(&k->v);
        if (key && (*key == "state_dict" || *key == "model") && std::holds_alternative<Dict>(v->v)) {
            dict = &std::get<Dict>(v->v);
            break;
        }
    }
    Weights w;
    for (const auto& [k, v] : *dict) {
        const std::string* name = std::get_if<std::string>(&k->v);
        const TensorRef* const* tensor = std::get_if<const TensorRef*>(&v->v);
        const TensorRef* t = tensor ? *tensor : nullptr;
        if (!name || !t) continue;  // non-tensor entries (epoch counters, ...) are not weights
        check(t->stride.size() == t->shape.size() && t->shape.size() <= kMaxTensorDims, path, *name,
              "a size and a stride of at most " + std::to_string(kMaxTensorDims) + " dimensions each",
              shape_string(t->shape) + " and " + shape_string(t->stride));
        const uint64_t numel = checked_numel(t->shape, path, *name);
        bool contiguous = true;
        int64_t expect = 1;
        for (size_t i = t->shape.size(); i-- > 0;) {
            contiguous = contiguous && (t->shape[i] == 1 || t->stride[i] == expect);
            expect *= t->shape[i];  // <= numel: no overflow
        }
        const StorageBytes s = storage(*name, t->storage.key);
        const uint64_t elem = t->storage.dtype == "F32" ? 4 : 2;
        check_inside_storage(path, *name, *t, numel, s.size / elem);
        const uint8_t* p = s.data + uint64_t(t->offset) * elem;
        if (contiguous && t->storage.dtype == "F32" && s.in_place && reinterpret_cast<uintptr_t>(p) % 4 == 0)
            w.add_view(*name, t->shape, reinterpret_cast<const float*>(p), /*mapped=*/true);
        else
            w.add(*name, t->shape, gather(*t, s, numel));
    }
    check(!w.names().empty(), path, "data.pkl", "a state dict with float tensors", "none");
    return w;
}

// torch.save before PyTorch 1.6 (the format of torchvision's alexnet-owt-*.pth downloads):
// pickles of the magic number, the protocol version, system info, the object and the sorted
// storage keys; then per key an 8-byte element count and the raw data.
Weights read_legacy_pth(const std::string& path) {
    const MappedFile file(path);
    Unpickler u(path, file.data(), file.size());
    u.run();  // the magic number (checked by looks_like_pth)
    const Value* version = u.run();
    const int64_t* v = std::get_if<int64_t>(&version->v);
    check(v && *v == 1001, path, "legacy torch.save protocol version", "1001", v ? std::to_string(*v) : "another value");
    u.run();  // sys_info: byte order and type sizes (little-endian files are what this machine reads)
    const Value* root = u.run();
    const Value* keys = u.run();
    const List* key_list = std::get_if<List>(&keys->v);
    check(key_list != nullptr, path, "legacy storage keys", "a list", "another object");
    std::map<std::string, StorageBytes> storages;
    size_t pos = u.position();
    for (const auto& k : *key_list) {
        const std::string* key = std::get_if<std::string>(&k->v);
        check(key != nullptr, path, "legacy storage keys", "strings", "another value");
        auto dtype = u.storage_types().find(*key);
        check(dtype != u.storage_types().end(), path, "storage " + *key, "a storage the object uses", "an unused key");
        check(span_fits(pos, 8, file.size()), path, "storage " + *key, "an element count", "the end of the file");
        uint64_t n;
        std::memcpy(&n, file.data() + pos, 8);
        const uint64_t bytes = checked_mul(n, dtype->second == "F32" ? 4 : 2, path, "storage " + *key);
        check(bytes <= file.size() - pos - 8, path, "storage " + *key, std::to_string(bytes) + " bytes of data",
              std::to_string(file.size() - pos - 8) + " left in the file");
        StorageBytes s;
        s.data = file.data() + pos + 8;
        s.size = size_t(bytes);
        s.in_place = true;
        storages[*key] = s;
        pos += 8 + bytes;
    }
    Weights w = tensors_from(path, root, [&](const std::string& name, const std::string& key) {
        auto it = storages.find(key);
        check(it != storages.end(), path, name, "its storage " + key, "none in the file");
        return it->second;
    });
    w.keep_alive(file.mapping());
    return w;
}

}  // namespace

Weights read_pth(const std::string& path) {
    if (!looks_like_zip(path)) return read_legacy_pth(path);
    ZipArchive zip(path);
    const ZipArchive::Entry* pkl = zip.find_suffix("/data.pkl");
    check(pkl != nullptr, path, "zip entries", "archive/data.pkl (a torch.save file)", "none");
    const std::string prefix = pkl->name.substr(0, pkl->name.size() - std::string("data.pkl").size());
    const std::vector<uint8_t> bytes = zip.read(*pkl);
    Unpickler unpickler(path + ": data.pkl", bytes.data(), bytes.size());
    const Value* root = unpickler.run();
    Weights w = tensors_from(path, root, [&](const std::string& name, const std::string& key) {
        const ZipArchive::Entry* data = nullptr;
        for (const auto& e : zip.entries())
            if (e.name == prefix + "data/" + key) data = &e;
        check(data != nullptr, path, name, "its storage " + prefix + "data/" + key, "no such entry");
        StorageBytes s;
        s.size = size_t(data->size);
        s.data = zip.stored(*data);
        s.in_place = s.data != nullptr;
        if (!s.in_place) s.copy = zip.read(*data), s.data = s.copy.data();
        return s;
    });
    w.keep_alive(zip.mapping());
    return w;
}

}  // namespace alexnet
