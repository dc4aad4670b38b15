#pragma once
// A move-only type-erased callable (std::move_only_function is C++23; g++ 12 lacks it). Tasks and
// completion callbacks own buffers, files and promises, so they must not need to be copyable.

#include "engine/core/assert.hpp"

#include <memory>
#include <type_traits>
#include <utility>

namespace puffer {

template <class Signature>
class unique_function;

template <class R, class... Args>
class unique_function<R(Args...)> {
public:
    unique_function() = default;
    unique_function(std::nullptr_t) {}

    template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, unique_function> &&
                                                std::is_invocable_r_v<R, F&, Args...>>>
    unique_function(F&& f) : callable_(std::make_unique<holder<std::decay_t<F>>>(std::forward<F>(f)))
    {
    }

    unique_function(unique_function&&) noexcept = default;
    unique_function& operator=(unique_function&&) noexcept = default;

    explicit operator bool() const { return callable_ != nullptr; }

    R operator()(Args... args) const
    {
        PUFFER_ASSERT(callable_ != nullptr);
        return callable_->call(std::forward<Args>(args)...);
    }

private:
    struct base {
        virtual ~base() = default;
        virtual R call(Args... args) = 0;
    };
    template <class F>
    struct holder final : base {
        explicit holder(F&& f) : fn(std::move(f)) {}
        explicit holder(const F& f) : fn(f) {}
        R call(Args... args) override { return fn(std::forward<Args>(args)...); }
        F fn;
    };
    std::unique_ptr<base> callable_;
};

}  // namespace puffer
