// The model files the library holds: GGUF (llama.cpp's format) and whisper.cpp's ggml Whisper files
// (the legacy layout: magic, hyper-parameters, mel filters, vocabulary, tensors). One reader for
// both: the format is told by the file's first bytes, never by its name, and a Whisper file is
// bounded by the reader the whisper provider uses (core/whisper_file.h). Stateless.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "library/gguf_info.h"
#include "xervo/error.h"

namespace xervo::library {

// LibraryModel::format of a whisper.cpp file ("gguf" for GGUF).
inline constexpr std::string_view kWhisperFormat = "ggml";

// The facts of a GGUF or whisper.cpp file as GgufInfo (format says which). A Whisper file reads as
// architecture "whisper", task transcribe, its tensor type as the quantization, its decoder's
// layers, width and context, and tags and a description saying English-only or multilingual.
// invalid_input naming the file and what is wrong for anything else: a damaged Whisper file (huge
// counts, truncated vocabulary, no tensors) and a file that is neither (read_gguf_info's errors).
Result<GgufInfo> read_model_file(const std::filesystem::path& path);

// ".bin" for a whisper.cpp file, ".gguf" for GGUF: the name a model's file gets in its folder.
std::string model_file_extension(std::string_view format);

// The names a model folder's file may have: "<name>.gguf", then "<name>.bin".
inline constexpr std::string_view kModelFileExtensions[] = {".gguf", ".bin"};

// True when the file starts with whisper.cpp's magic number (cheap filter for folder scans: a
// ".bin" without it, such as PyTorch weights, is not a model the library holds).
bool has_whisper_magic(const std::filesystem::path& path);

}  // namespace xervo::library
