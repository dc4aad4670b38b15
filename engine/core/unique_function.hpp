#pragma once
// A move-only type-erased callable (std::move_only_function is C++23; g++ 12 lacks it). Tasks and
// completion callbacks own buffers, files and promises, so they must not need to be copyable.
// A callable of up to inline_size_bytes that moves without throwing is stored in place: posting
// a small task or passing a small callback allocates nothing (the warm search path counts on it).

#include "engine/core/assert.hpp"

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace puffer {

template <class Signature>
class unique_function;

template <class R, class... Args>
class unique_function<R(Args...)> {
public:
    static constexpr std::size_t inline_size_bytes = 64;

    unique_function() = default;
    unique_function(std::nullptr_t) {}

    template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, unique_function> &&
                                                std::is_invocable_r_v<R, std::decay_t<F>&, Args...>>>
    unique_function(F&& f)
    {
        using T = std::decay_t<F>;
        if constexpr (fits_inline<T>()) {
            ::new (static_cast<void*>(storage_)) T(std::forward<F>(f));
            ops_ = &inline_ops<T>;
        } else {
            heap_ = new T(std::forward<F>(f));
            ops_ = &heap_ops<T>;
        }
    }

    unique_function(unique_function&& other) noexcept { take(other); }
    unique_function& operator=(unique_function&& other) noexcept
    {
        if (this != &other) {
            reset();
            take(other);
        }
        return *this;
    }
    unique_function& operator=(std::nullptr_t) noexcept
    {
        reset();
        return *this;
    }
    unique_function(const unique_function&) = delete;
    unique_function& operator=(const unique_function&) = delete;
    ~unique_function() { reset(); }

    explicit operator bool() const { return ops_ != nullptr; }

    R operator()(Args... args) const
    {
        PUFFER_ASSERT(ops_ != nullptr);
        return ops_->call(target(), std::forward<Args>(args)...);
    }

private:
    struct operations {
        R (*call)(void* target, Args&&... args);
        // Moves the callable from `from` to `to` (inline ones only) and destroys it at `from`.
        void (*relocate)(void* from, void* to);
        void (*destroy)(void* target);
        bool on_heap;
    };

    template <class T>
    static constexpr bool fits_inline()
    {
        return sizeof(T) <= inline_size_bytes && alignof(T) <= alignof(std::max_align_t) &&
               std::is_nothrow_move_constructible_v<T>;
    }

    template <class T>
    static constexpr operations inline_ops = {
        [](void* t, Args&&... args) -> R { return (*static_cast<T*>(t))(std::forward<Args>(args)...); },
        [](void* from, void* to) {
            ::new (to) T(std::move(*static_cast<T*>(from)));
            static_cast<T*>(from)->~T();
        },
        [](void* t) { static_cast<T*>(t)->~T(); },
        false,
    };
    template <class T>
    static constexpr operations heap_ops = {
        [](void* t, Args&&... args) -> R { return (*static_cast<T*>(t))(std::forward<Args>(args)...); },
        nullptr,
        [](void* t) { delete static_cast<T*>(t); },
        true,
    };

    void* target() const { return ops_->on_heap ? heap_ : const_cast<std::byte*>(storage_); }

    void take(unique_function& other) noexcept
    {
        ops_ = other.ops_;
        if (ops_ == nullptr) {
            return;
        }
        if (ops_->on_heap) {
            heap_ = other.heap_;
        } else {
            ops_->relocate(other.storage_, storage_);
        }
        other.ops_ = nullptr;
    }

    void reset() noexcept
    {
        if (ops_ != nullptr) {
            ops_->destroy(target());
            ops_ = nullptr;
        }
    }

    const operations* ops_ = nullptr;
    union {
        alignas(std::max_align_t) std::byte storage_[inline_size_bytes];
        void* heap_;
    };
};

}  // namespace puffer
