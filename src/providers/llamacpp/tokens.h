// Token ids, positions and sequence ids as llama.cpp numbers them (llama_token, llama_pos,
// llama_seq_id are all int32_t), without including llama.h: the scheduling code uses them and is
// built and tested without llama.cpp (llama_engine.cpp checks that the types agree).
#pragma once

#include <cstdint>
#include <vector>

namespace xervo::llamacpp {

using Token = int32_t;
using Pos = int32_t;
using SeqId = int32_t;
using Tokens = std::vector<Token>;

}  // namespace xervo::llamacpp
