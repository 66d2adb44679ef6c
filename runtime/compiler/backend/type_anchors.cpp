#include "compiler/backend/type_anchors.h"

#include <string>
#include <vector>

#include <clang/AST/ASTContext.h>
#include <clang/AST/Attr.h>
#include <clang/AST/Decl.h>
#include <clang/Basic/SourceManager.h>
#include <clang/Frontend/MultiplexConsumer.h>
#include <llvm/Support/Path.h>

namespace ebpfrun::compiler {
namespace {

// Sees every tag definition as the parser finishes it, and before code
// generation finishes the module hands one anchor global per kept tag to the
// code generator (which runs after this consumer in the multiplexer).
class TypeAnchorConsumer : public clang::ASTConsumer {
 public:
  explicit TypeAnchorConsumer(clang::ASTConsumer& codegen) : codegen_(codegen) {}

  void Initialize(clang::ASTContext& context) override { context_ = &context; }

  void HandleTagDeclDefinition(clang::TagDecl* tag) override {
    // Filtered at the end: the typedef name of `typedef struct { ... } name_t;`
    // is attached only after the struct's definition is complete.
    if (context_) tags_.push_back(tag);
  }

  void HandleTranslationUnit(clang::ASTContext& context) override {
    if (context.getDiagnostics().hasErrorOccurred()) return;
    clang::TranslationUnitDecl* unit = context.getTranslationUnitDecl();
    unsigned index = 0;
    for (clang::TagDecl* tag : tags_) {
      if (!is_program_type(*tag)) continue;
      clang::QualType type = anchored_type(context, *tag);
      if (type.isNull()) continue;
      clang::QualType pointer = context.getPointerType(type);
      std::string name = "__ebpfrun_type_" + std::to_string(index++);
      clang::SourceLocation where = tag->getLocation();
      auto* anchor = clang::VarDecl::Create(context, unit, where, where, &context.Idents.get(name), pointer,
                                            context.getTrivialTypeSourceInfo(pointer, where), clang::SC_Static);
      anchor->addAttr(clang::UsedAttr::CreateImplicit(context));
      anchor->addAttr(clang::SectionAttr::CreateImplicit(context, kTypeAnchorSection));
      anchor->setImplicit();
      unit->addDecl(anchor);
      // A static variable without an initializer is a tentative definition:
      // the code generator emits it (zero-initialized, with debug info and so
      // BTF) when told that the tentative definition is final.
      codegen_.CompleteTentativeDefinition(anchor);
    }
  }

 private:
  bool is_program_type(const clang::TagDecl& tag) const {
    if (!tag.isCompleteDefinition() || tag.isInvalidDecl() || tag.getParentFunctionOrMethod()) return false;
    if (tag.getName().empty() && !tag.getTypedefNameForAnonDecl()) return false;
    const clang::SourceManager& sources = context_->getSourceManager();
    clang::SourceLocation where = sources.getFileLoc(tag.getLocation());
    if (where.isInvalid() || sources.isInSystemHeader(where)) return false;
    // A vmlinux.h of the program's own (beside it or under -I) is a user
    // header to clang, but its thousands of kernel types must not all be
    // copied into the object's BTF.
    return llvm::sys::path::filename(sources.getFilename(where)) != "vmlinux.h";
  }

  static clang::QualType anchored_type(clang::ASTContext& context, const clang::TagDecl& tag) {
    if (!tag.getName().empty()) return context.getTagDeclType(&tag);
    // typedef struct { ... } name_t: anchor the typedef so the name reaches BTF.
    if (const clang::TypedefNameDecl* name = tag.getTypedefNameForAnonDecl()) return context.getTypedefType(name);
    return {};
  }

  clang::ASTConsumer& codegen_;
  clang::ASTContext* context_ = nullptr;
  std::vector<clang::TagDecl*> tags_;
};

}  // namespace

std::unique_ptr<clang::ASTConsumer> AnchoringEmitObjAction::CreateASTConsumer(clang::CompilerInstance& instance,
                                                                              llvm::StringRef file) {
  std::unique_ptr<clang::ASTConsumer> codegen = clang::EmitObjAction::CreateASTConsumer(instance, file);
  if (!codegen) return nullptr;
  std::vector<std::unique_ptr<clang::ASTConsumer>> consumers;
  consumers.push_back(std::make_unique<TypeAnchorConsumer>(*codegen));
  consumers.push_back(std::move(codegen));
  return std::make_unique<clang::MultiplexConsumer>(std::move(consumers));
}

}  // namespace ebpfrun::compiler
