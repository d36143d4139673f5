#include "io/pth.hpp"

#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <variant>

#include "core/error.hpp"
#include "io/safetensors.hpp"
#include "io/mapped_file.hpp"
#include "io/zip.hpp"

namespace alexnet {

bool looks_like_zip(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    char head[4] = {};
    f.read(head, 4);
    return f && std::memcmp(head, "PK\x03\x04", 4) == 0;
}

bool looks_like_pth(const std::string& path) {
    if (looks_like_zip(path)) return true;
    // legacy: PROTO 2, LONG1 of 10 bytes: 0x1950a86a20f9469cfc6c little-endian
    static const unsigned char magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    std::ifstream f(path, std::ios::binary);
    unsigned char head[sizeof magic] = {};
    f.read(reinterpret_cast<char*>(head), sizeof magic);
    return f && std::memcmp(head, magic, sizeof magic) == 0;
}

namespace {

struct Value;
using ValuePtr = std::shared_ptr<Value>;
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
using List = std::vector<ValuePtr>;
using Dict = std::vector<std::pair<ValuePtr, ValuePtr>>;
struct Value {
    std::variant<std::monostate, bool, int64_t, double, std::string, List, Dict, Global, Storage, TensorRef, Mark> v;
    bool is_tuple = false;
};

ValuePtr make(auto x) {
    auto p = std::make_shared<Value>();
    p->v = std::move(x);
    return p;
}

const std::map<std::string, std::string> kStorages{
    {"torch.FloatStorage", "F32"}, {"torch.HalfStorage", "F16"}, {"torch.BFloat16Storage", "BF16"}};

class Unpickler {
public:
    Unpickler(const std::string& where, const uint8_t* bytes, size_t size) : where_(where), b_(bytes), size_(size) {}
    size_t position() const { return pos_; }
    const std::map<std::string, std::string>& storage_types() const { return storage_types_; }  // key -> dtype

    // One pickle from the current position (legacy files hold several in a row).
    ValuePtr run() {
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
                    ValuePtr v = pop();
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
                    ValuePtr v = pop(), k = pop();
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
                    ValuePtr name = pop(), module = pop();
                    push(global(as<std::string>(module, "STACK_GLOBAL") + "." + as<std::string>(name, "STACK_GLOBAL")));
                    break;
                }
                case 'Q': push(persistent(pop())); break;  // BINPERSID
                case 'R': {                                // REDUCE
                    ValuePtr args = pop(), fn = pop();
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
    List stack_;
    std::map<uint64_t, ValuePtr> memo_;
    std::map<std::string, std::string> storage_types_;

    static std::string hex(unsigned v) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "%02x", v);
        return buf;
    }
    uint8_t byte() {
        check(pos_ < size_, where_, "pickle", "a STOP opcode before the end", "truncated data");
        return b_[pos_++];
    }
    const uint8_t* take(size_t n) {
        check(n <= size_ - pos_, where_, "pickle", std::to_string(n) + " more bytes", "truncated data");
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
    void push(ValuePtr v) { stack_.push_back(std::move(v)); }
    ValuePtr top() {
        check(!stack_.empty(), where_, "pickle", "a value on the stack", "an empty stack");
        return stack_.back();
    }
    ValuePtr pop() {
        ValuePtr v = top();
        stack_.pop_back();
        return v;
    }
    List pop_n(size_t n) {
        check(stack_.size() >= n, where_, "pickle", std::to_string(n) + " values on the stack", std::to_string(stack_.size()));
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
    ValuePtr memo(uint64_t k) {
        auto it = memo_.find(k);
        check(it != memo_.end(), where_, "pickle memo", "entry " + std::to_string(k), "none");
        return it->second;
    }
    static ValuePtr tuple(List items) {
        ValuePtr p = make(std::move(items));
        p->is_tuple = true;
        return p;
    }
    template <class T>
    T& as(const ValuePtr& v, const char* what) {
        T* p = std::get_if<T>(&v->v);
        if (!p) throw Error(where_, std::string("pickle ") + what + ": an operand of an unexpected type");
        return *p;
    }
    ValuePtr global(const std::string& name) {
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
    ValuePtr persistent(const ValuePtr& pid) {
        const List& t = as<List>(pid, "BINPERSID");
        check(t.size() >= 5 && std::holds_alternative<std::string>(t[0]->v) && std::get<std::string>(t[0]->v) == "storage",
              where_, "persistent id", "('storage', type, key, location, numel)", "another form");
        const std::string type = as<Global>(t[1], "storage type").name;
        Storage s;
        s.dtype = kStorages.at(type);
        s.key = as<std::string>(t[2], "storage key");
        s.numel = as<int64_t>(t[4], "storage size");
        check(t.size() < 6 || std::holds_alternative<std::monostate>(t[5]->v), where_, "storage " + s.key,
              "a whole storage", "a view into another (not supported)");
        storage_types_[s.key] = s.dtype;
        return make(s);
    }
    std::vector<int64_t> ints(const ValuePtr& v, const char* what) {
        std::vector<int64_t> out;
        for (const auto& x : as<List>(v, what)) out.push_back(as<int64_t>(x, what));
        return out;
    }
    ValuePtr reduce(const ValuePtr& fn, const ValuePtr& args) {
        const std::string& name = as<Global>(fn, "REDUCE").name;
        const List& a = as<List>(args, "REDUCE arguments");
        if (name == "collections.OrderedDict") return make(Dict{});
        if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
            check(a.size() >= 4, where_, name, "storage, offset, size, stride", std::to_string(a.size()) + " arguments");
            TensorRef t;
            t.storage = as<Storage>(a[0], "tensor storage");
            t.offset = as<int64_t>(a[1], "tensor offset");
            t.shape = ints(a[2], "tensor size");
            t.stride = ints(a[3], "tensor stride");
            return make(t);
        }
        if (name == "torch._utils._rebuild_parameter") {
            check(!a.empty(), where_, name, "a tensor argument", "none");
            as<TensorRef>(a[0], "parameter");
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

// The state dict's tensors from the unpickled root, reading storages through `storage`.
template <class StorageFn>
Weights tensors_from(const std::string& path, const ValuePtr& root, StorageFn storage) {
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
        const TensorRef* t = std::get_if<TensorRef>(&v->v);
        if (!name || !t) continue;  // non-tensor entries (epoch counters, ...) are not weights
        int64_t numel = 1, expect = 1;
        bool contiguous = t->stride.size() == t->shape.size();
        for (size_t i = t->shape.size(); i-- > 0;) {
            numel *= t->shape[i];
            contiguous = contiguous && (t->shape[i] == 1 || t->stride[i] == expect);
            expect *= t->shape[i];
        }
        check(contiguous, path, *name, "a contiguous tensor", "strides that are not row-major");
        const StorageBytes s = storage(*name, t->storage.key);
        const int64_t elem = t->storage.dtype == "F32" ? 4 : 2;
        check(t->offset >= 0 && (t->offset + numel) * elem <= int64_t(s.size), path, *name,
              std::to_string(numel) + " elements inside its storage of " + std::to_string(s.size / size_t(elem)),
              "offset " + std::to_string(t->offset));
        const uint8_t* p = s.data + t->offset * elem;
        if (t->storage.dtype == "F32" && s.in_place && reinterpret_cast<uintptr_t>(p) % 4 == 0) {
            w.add_view(*name, t->shape, reinterpret_cast<const float*>(p));
            continue;
        }
        std::vector<float> f(static_cast<size_t>(numel));
        for (int64_t i = 0; i < numel; ++i) {
            uint16_t h;
            if (t->storage.dtype == "F32")
                std::memcpy(&f[size_t(i)], p + 4 * i, 4);
            else
                std::memcpy(&h, p + 2 * i, 2), f[size_t(i)] = t->storage.dtype == "F16" ? half_to_float(h) : bfloat16_to_float(h);
        }
        w.add(*name, t->shape, std::move(f));
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
    const ValuePtr version = u.run();
    const int64_t* v = std::get_if<int64_t>(&version->v);
    check(v && *v == 1001, path, "legacy torch.save protocol version", "1001", v ? std::to_string(*v) : "another value");
    u.run();  // sys_info: byte order and type sizes (little-endian files are what this machine reads)
    const ValuePtr root = u.run();
    const ValuePtr keys = u.run();
    const List* key_list = std::get_if<List>(&keys->v);
    check(key_list != nullptr, path, "legacy storage keys", "a list", "another object");
    std::map<std::string, StorageBytes> storages;
    size_t pos = u.position();
    for (const auto& k : *key_list) {
        const std::string* key = std::get_if<std::string>(&k->v);
        check(key != nullptr, path, "legacy storage keys", "strings", "another value");
        auto dtype = u.storage_types().find(*key);
        check(dtype != u.storage_types().end(), path, "storage " + *key, "a storage the object uses", "an unused key");
        check(pos + 8 <= file.size(), path, "storage " + *key, "an element count", "the end of the file");
        uint64_t n;
        std::memcpy(&n, file.data() + pos, 8);
        const uint64_t bytes = n * (dtype->second == "F32" ? 4 : 2);
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
    const ValuePtr root = Unpickler(path + ": data.pkl", bytes.data(), bytes.size()).run();
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
