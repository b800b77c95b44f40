"""The patterns several parts of the question analysis share: how a question asks which is higher or lower,
for an overview, which pilots (a which-pilots question), refers to the pilot it is about, or quotes a term."""
from __future__ import annotations

import re

# "介绍一下X的试点方案": an overview of a plan
OVERVIEW = re.compile(r"介绍|概况|概述|概括|总体情况|主要内容|大致内容|(讲|说|写)了?(些|哪些|哪几块)?(什么|内容)|有哪些内容"
                      r"|方案要点是什么|试点方案(是什么|怎么样)|(干|做)(些)?什么|总体安排|简介|简要说明|简单说说|说说|讲讲"
                      r"|包括哪(些|几)(部分|方面|块)|哪几块|哪几部分|分(成)?哪几|overview")
# "哪个更高", "比…多", "谁的…大": the higher or larger one is asked for
HIGHER = re.compile(r"(更|最|比较)(高|多|大|快|强|领先)|(?<![对相])比[^较例重率低少小慢]{1,12}?(高|多(?!少)|大|快)|(高|多|大)还是|(谁|哪个|哪一个)的?[\u4e00-\u9fff]{0,10}?(高|多|大|快|强)[一些点]{0,2}(?:[？?。，,]|$)")
LOWER = re.compile(r"(更|最|比较)(低|少|小|慢|弱)|(?<![对相])比[^较例重率高大快]{1,12}?(低|(?<!多)少|小|慢)|(低|少|小)还是|(谁|哪个|哪一个)的?[\u4e00-\u9fff]{0,10}?(低|少|小|慢|弱)[一些点]{0,2}(?:[？?。，,]|$)")
# A phrase that refers to the pilot being asked about ("…那个县", "…的县级市", "该镇"): the description before it
# says which pilot, the rest of the question says what is asked.
REFERENCE = re.compile(r"(?:[那这该]个|[那这该]|唯一的?)(?:县级市|地级市|自治县|自治州|新区|城市|地方|试点|镇子|县|市|区|镇|州|旗)"
                       r"|的(?:县级市|地级市|自治县|自治州|新区|城市|试点|镇子)(?![\u4e00-\u9fff0-9])")
# "哪些试点…", "试点里有哪几个…": a which-pilots question
CROSS = re.compile(
    r"(哪些|哪几个|哪几|什么)(试点|地方|城市|地区|县|镇|市|区|文件|文档|方案)"
    r"|(试点|地方|城市|文件)(县|镇|市|区)?(都|还|一共|共)?(有|是)(哪些|谁)|分别是哪些|分别是哪几个|哪里(提|有)"
    r"|试点(里|中|当中)?(有)?(哪些|哪几个|哪几)"
)
# a term in quotation marks ("…强调“<术语>”")
QUOTED = re.compile(r"[“\"「『‘']([^”\"」』’']{1,30})[”\"」』’']")
