#include "engine/storage/fault_object_store.hpp"

#include <algorithm>
#include <thread>

namespace puffer::storage {

void fault_object_store::add_fault(object_fault kind, matcher match, std::uint64_t times,
                                   std::chrono::milliseconds delay)
{
    std::lock_guard lock(mutex_);
    faults_.push_back({kind, std::move(match), times, delay});
}

void fault_object_store::clear_faults()
{
    std::lock_guard lock(mutex_);
    faults_.clear();
}

std::vector<object_fault> fault_object_store::faults_for(const std::string& call)
{
    calls_.fetch_add(1);
    std::vector<object_fault> kinds;
    std::chrono::milliseconds wait{0};
    {
        std::lock_guard lock(mutex_);
        for (auto it = faults_.begin(); it != faults_.end();) {
            if (it->match && !it->match(call)) {
                ++it;
                continue;
            }
            kinds.push_back(it->kind);
            if (it->kind == object_fault::delay) {
                wait += it->delay;
            }
            if (it->remaining != 0 && --it->remaining == 0) {
                it = faults_.erase(it);
            } else {
                ++it;
            }
        }
    }
    if (!kinds.empty()) {
        injected_.fetch_add(kinds.size());
    }
    if (wait.count() > 0) {
        std::this_thread::sleep_for(wait);
    }
    return kinds;
}

status fault_object_store::apply(const std::string& call, std::vector<std::byte>* data)
{
    for (object_fault kind : faults_for(call)) {
        switch (kind) {
            case object_fault::fail:
                return make_error(errc::io, "object store: " + call + " failed (injected fault)");
            case object_fault::delay:
                break;
            case object_fault::truncate:
                if (data != nullptr) {
                    data->resize(data->size() / 2);
                }
                break;
            case object_fault::corrupt:
                if (data != nullptr && !data->empty()) {
                    (*data)[data->size() / 3] ^= std::byte{0x10};
                }
                break;
        }
    }
    return ok();
}

status fault_object_store::put(const std::string& key, std::span<const std::byte> data, put_mode mode)
{
    PUFFER_TRY(apply("put " + key, nullptr));
    return base_.put(key, data, mode);
}

status fault_object_store::put_file(const std::string& key, io::file& f, put_mode mode)
{
    PUFFER_TRY(apply("put_file " + key, nullptr));
    return base_.put_file(key, f, mode);
}

result<std::vector<std::byte>> fault_object_store::get(const std::string& key, std::uint64_t offset,
                                                        std::uint64_t length)
{
    gets_.fetch_add(1);
    PUFFER_TRY_ASSIGN(auto data, base_.get(key, offset, length));
    PUFFER_TRY(apply("get " + key, &data));
    get_bytes_.fetch_add(data.size());
    return data;
}

result<std::vector<std::byte>> fault_object_store::get_all(const std::string& key)
{
    gets_.fetch_add(1);
    PUFFER_TRY_ASSIGN(auto data, base_.get_all(key));
    PUFFER_TRY(apply("get_all " + key, &data));
    get_bytes_.fetch_add(data.size());
    return data;
}

result<std::uint64_t> fault_object_store::size(const std::string& key)
{
    PUFFER_TRY(apply("size " + key, nullptr));
    return base_.size(key);
}

status fault_object_store::remove(const std::string& key)
{
    PUFFER_TRY(apply("remove " + key, nullptr));
    return base_.remove(key);
}

result<std::vector<object_info>> fault_object_store::list(const std::string& prefix)
{
    PUFFER_TRY(apply("list " + prefix, nullptr));
    return base_.list(prefix);
}

}  // namespace puffer::storage
