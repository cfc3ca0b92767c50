"""Characters that tell simplified from traditional Chinese.

Each token below is a simplified character followed by its traditional form(s). Only characters
that a writer of the other script does not use are listed: pairs where the simplified form is also
an ordinary traditional character (干, 台, 只, 里, 后, 面, 系, 才, 周 ...) or the traditional form
an ordinary simplified one (著, 乾, 覆 ...) are left out on purpose, so that one occurrence is
evidence. The list favours the characters customer-service messages are made of; a few hundred
frequent ones cover most running text.
"""

from __future__ import annotations

_PAIRS = """
这這 个個 们們 为為 说說 请請 问問 订訂 单單 货貨 号號 码碼 还還 没沒 时時 钱錢 买買 卖賣
东東 处處 应應 该該 么麼 会會 来來 过過 给給 发發髮 对對 开開 关關 门門 间間 让讓 从從 动動
办辦 务務 电電 话話 邮郵 网網 络絡 线線 帐帳 账賬 户戶 录錄 设設 认認 证證 护護 验驗 钥鑰
图圖 视視 频頻 质質 价價 费費 优優 红紅 积積 场場 节節 赠贈 补補 偿償 换換 维維 坏壞 损損
题題 错錯 误誤 无無 响響 声聲 机機 显顯 烧燒 烟煙 伤傷 险險 盗盜 骗騙 诈詐 冻凍 结結 银銀
额額 转轉 统統 数數 据據 泄洩 隐隱 态態 级級 经經 业業 营營 厂廠 产產 运運 输輸 递遞 达達
签簽 丢丟 迟遲 样樣 种種 类類 颜顏 规規 标標 准準 书書 装裝 载載 软軟 体體 联聯 员員 帮幫
谢謝 满滿 烂爛 气氣 滚滾 废廢 脑腦 残殘 恶惡 极極 愤憤 讨討 厌厭 烦煩 紧緊 尽盡儘 马馬 现現
赶趕 议議 进進 够夠 觉覺 询詢 咨諮 吗嗎 儿兒 谁誰 则則 报報 举舉 诉訴 权權 赔賠 罚罰 决決
复復複 杂雜 难難 简簡 实實 际際 将將 与與 专專 车車 辆輛 头頭 脚腳 岁歲 义義 乐樂 习習 写寫
读讀 听聽 见見 观觀 点點 击擊 页頁 边邊 选選 择擇 项項 尝嘗 试試 确確 导導 异異 称稱 启啟
闭閉 状狀 况況 库庫 仓倉 储儲 检檢 测測 续續 阅閱 协協 约約 条條 纸紙 张張 长長 亲親 爱愛
华華 国國 区區 广廣 湾灣 陆陸 钟鐘鍾 币幣 块塊 万萬 亿億 两兩 双雙 税稅 贵貴 担擔 责責 负負
终終 带帶 众眾 识識 记記 忆憶 饭飯 馆館 饮飲 药藥 医醫 疗療 环環 变變 调調 讲講 语語 词詞
汇匯彙 计計 资資 档檔 传傳 热熱 湿濕 净淨 脏髒 断斷 闪閃 烁爍 顿頓 弹彈 骚騷 扰擾 奖獎 赢贏
获獲穫 链鏈 欢歡 讯訊 妈媽 爷爺 师師 学學 课課 练練 论論 笔筆 饿餓 饱飽 汤湯 鸡雞 鱼魚 鸟鳥
猪豬 猫貓 虾蝦 盐鹽 酱醬 轻輕 虽雖 却卻 刚剛 别別 总總 愿願 惊驚 吓嚇 虑慮 忧憂 闷悶 恼惱
遗遺 惨慘 厉厲 严嚴 肃肅 购購 减減 驿驛 柜櫃 宝寶 册冊 绑綁 连連 删刪 锁鎖 灯燈 键鍵 盘盤
壳殼 轮輪 编編 厅廳 层層 楼樓 镇鎮 县縣 乡鄉 当當噹 亚亞 乌烏 园園 圆圓 团團 术術 卫衛 党黨
战戰 争爭 军軍 队隊 农農 历歷曆 压壓 飞飛 迁遷 远遠 适適 逻邏 辑輯 评評 详詳 细細 组組 织織
纪紀 绝絕 综綜 罗羅 职職 聪聰 肤膚 脸臉 艺藝 苏蘇 荐薦 览覽 触觸 许許 访訪 译譯 诚誠 谈談
贝貝 财財 败敗 贩販 贯貫 贴貼 贷貸 贸貿 赏賞 赚賺 较較 邻鄰 释釋 针針 铁鐵 铺鋪 销銷 锅鍋
镜鏡 闲閒 闹鬧 闻聞 阳陽 阴陰 随隨 雾霧 静靜 顶頂 顺順 须須鬚 顾顧 预預 领領 风風 饰飾 驱驅
麦麥 齐齊 龙龍 乱亂 亏虧 仅僅 们們 伟偉 传傳 侧側 债債 倾傾 优優 剧劇 劝勸 势勢 厕廁 参參
双雙 发發 叹嘆 吴吳 听聽 启啟 员員 响響 哑啞 唤喚 围圍 坚堅 垫墊 块塊 坛壇 墙牆 壮壯 头頭
夺奪 奋奮 妇婦 娱娛 孙孫 宁寧 实實 宽寬 审審 宪憲 对對 寻尋 导導 层層 岁歲 岛島 币幣 帅帥
师師 帘簾 干幹 库庫 庆慶 应應 废廢 开開 异異 弃棄 张張 弯彎 强強 归歸 录錄 彻徹 征徵 忆憶
态態 怀懷 怜憐 总總 恋戀 恳懇 悬懸 惧懼 惯慣 戏戲 户戶 扑撲 执執 扩擴 扫掃 扬揚 抢搶 护護
报報 担擔 拟擬 拥擁 拨撥 择擇 挂掛 挡擋 挤擠 挥揮 损損 换換 据據 掷擲 搅攪 摄攝 摆擺 摇搖
携攜 敌敵 数數 断斷 旧舊 时時 显顯 晒曬 晓曉 暂暫 术術 机機 杀殺 杂雜 权權 条條 来來 板闆
极極 构構 枪槍 柜櫃 标標 栏欄 树樹 样樣 桥橋 档檔 梦夢 检檢 楼樓 欧歐 歼殲 毕畢 毁毀 气氣
汉漢 汤湯 沟溝 没沒 泪淚 泽澤 洁潔 浅淺 测測 济濟 浓濃 涂塗 涨漲 渐漸 温溫 湿濕 灭滅 灵靈
灾災 炉爐 点點 炼煉 烂爛 热熱 爱愛 爷爺 牵牽 犹猶 状狀 独獨 狮獅 献獻 环環 现現 电電 画畫
畅暢 疗療 疯瘋 监監 盖蓋 盘盤 着著 矿礦 码碼 础礎 确確 离離 种種 积積 称稱 稳穩 穷窮 窃竊
竞競 笔筆 筑築 签簽 简簡 粮糧 紧緊 纠糾 红紅 约約 级級 纯純 纳納 纷紛 纸紙 线線 练練 组組
细細 织織 终終 经經 结結 绕繞 绘繪 给給 络絡 统統 继繼 绩績 续續 维維 综綜 绿綠 缓緩 编編
缘緣 缩縮 网網 罚罰 罢罷 职職 联聯 聪聰 肃肅 胜勝 胆膽 脉脈 脏臟 脑腦 舍捨 艰艱 节節 苹蘋
范範 荣榮 药藥 萝蘿 营營 虚虛 补補 袜襪 装裝 观觀 规規 视視 览覽 觉覺 誉譽 计計 认認 讨討
让讓 训訓 议議 讯訊 记記 讲講 许許 论論 设設 证證 识識 诉訴 诊診 词詞 译譯 试試 诗詩 该該
详詳 语語 误誤 说說 请請 诸諸 读讀 课課 谁誰 调調 谅諒 谈談 谋謀 谓謂 谢謝 谨謹 贡貢 败敗
账賬 货貨 质質 购購 贯貫 费費 贺賀 贿賄 资資 赔賠 赞讚 赵趙 趋趨 跃躍 践踐 轨軌 软軟 轰轟
轻輕 载載 辅輔 辆輛 输輸 辞辭 边邊 迈邁 运運 还還 这這 进進 远遠 违違 连連 迟遲 适適 选選
递遞 逻邏 遗遺 邮郵 邻鄰 郑鄭 酝醞 释釋 钢鋼 钥鑰 钻鑽 铃鈴 铜銅 银銀 链鏈 锋鋒 锐銳 错錯
锻鍛 镇鎮 长長 闭閉 问問 间間 闻聞 阀閥 阅閱 队隊 阶階 际際 陈陳 陕陝 险險 隐隱 难難 雏雛
鸣鳴 麦麥 黄黃 齿齒 龄齡
"""

# Single characters of one script whose counterpart above is ambiguous or missing.
_SIMPLIFIED_EXTRA = "么"
_TRADITIONAL_EXTRA = "週於裡裏鬆麵隻係製髮鬥鬍鬱醜捲樸穀衝採餘雲錶"

# Characters that are ordinary in both scripts, even though they appear in a pair above.
_BOTH = set("泄干征着著范台只里后面系才几周表松余云采冲谷丑斗朴卷制郁胡了向合准划叶咸于志伙并板舍")


def _build() -> tuple[frozenset[str], frozenset[str]]:
    simplified: set[str] = set(_SIMPLIFIED_EXTRA)
    traditional: set[str] = set(_TRADITIONAL_EXTRA)
    for token in _PAIRS.split():
        simplified.add(token[0])
        traditional.update(token[1:])
    shared = (simplified & traditional) | _BOTH
    return frozenset(simplified - shared), frozenset(traditional - shared)


SIMPLIFIED_ONLY, TRADITIONAL_ONLY = _build()
"""Characters used only in simplified, and only in traditional, Chinese."""
