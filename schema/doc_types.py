"""Document types of My Space (我的空间): what kind of document a catalog material can be
satisfied by, and what a catalog item's result is (`CatalogItem.result_type`), code -> Chinese
name."""

from __future__ import annotations

DOC_TYPES: dict[str, str] = {
    "id_card": "居民身份证", "household_register": "户口簿", "residence_permit": "居住证",
    "marriage_certificate": "结婚证", "divorce_certificate": "离婚证",
    "birth_certificate": "出生医学证明", "death_certificate": "死亡证明",
    "disability_certificate": "残疾人证", "veteran_certificate": "退役军人证件",
    "only_child_certificate": "独生子女父母光荣证",
    "subsistence_certificate": "最低生活保障证/特困人员救助供养证", "bank_card": "银行卡/存折",
    "photo": "相片", "income_proof": "收入证明", "medical_record": "病历/诊断证明",
    "medical_invoice": "医疗费用票据", "property_certificate": "不动产权证",
    "land_use_certificate": "土地使用权证", "land_contract_certificate": "农村土地承包经营权证",
    "housing_safety_appraisal": "房屋安全鉴定报告", "student_status": "学籍证明",
    "school_admission_notice": "入学（录取）通知书", "labor_contract": "劳动合同",
    "unemployment_registration": "失业登记证明", "employment_card": "就业创业证",
    "social_insurance_record": "参保证明", "social_security_card": "社会保障卡",
    "mediation_agreement": "调解协议书", "application_form": "申请表",
    "commitment_letter": "承诺书", "authorization_letter": "授权委托书",
    "residence_proof": "居住情况证明", "family_relation_proof": "家庭成员关系证明",
}

