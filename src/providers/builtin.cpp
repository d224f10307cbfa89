#include "xervo/providers.h"

#if XERVO_HAVE_PLUGIN
#include <set>

#include "providers/plugin/plugin_loader.h"
#endif

namespace xervo {

void add_builtin_providers(RuntimeBuilder& builder, std::shared_ptr<ModelResolver> resolver) {
#if XERVO_HAVE_LLAMACPP
  builder.add_provider(make_llamacpp_provider(builder.provider_settings("llamacpp"), resolver));
#endif
#if XERVO_HAVE_ONNX
  builder.add_provider(make_onnx_provider(builder.provider_settings("onnx")));
#endif
#if XERVO_HAVE_WHISPER
  builder.add_provider(make_whisper_provider(builder.provider_settings("whisper"), resolver));
#endif
#if XERVO_HAVE_OPENAI
  builder.add_provider(make_openai_provider(builder.provider_settings("openai")));
#endif
#if XERVO_HAVE_GEMINI
  builder.add_provider(make_gemini_provider(builder.provider_settings("gemini")));
#endif
#if XERVO_HAVE_PLUGIN
  // Plugins of [plugins] paths and XERVO_PLUGIN_PATH, after the built-ins: an id taken is refused.
  std::set<std::string> taken;
  for (const char* id : {"llamacpp", "onnx", "whisper", "openai", "gemini"}) taken.insert(id);
  add_plugin_providers(builder, builder.provider_settings("plugins"), std::move(taken));
#endif
  (void)builder;
  (void)resolver;
}

}  // namespace xervo
